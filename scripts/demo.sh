#!/usr/bin/env bash
# The Driftless demo on the bundled example, end to end with real guests you can ssh into:
#   install and start libvirtd/QEMU and Open vSwitch (userspace datapath), build, build (or reuse) the
#   Debian guest image, make the physical network physnet1 (a switch and a namespace holding the
#   gateways, scripts/physnet.sh), turn examples/lab into a git repository, then: plan, apply, wait until
#   the guests answer, `ssh alice@10.10.0.11 hostname`, a second commit with its plan and apply, an
#   out-of-band change and the drift report that finds it, and healing it. Each phase is timed.
#
# Running it again is safe: it converges the same hosts again and creates nothing twice.
#   scripts/demo.sh --cleanup     removes every domain, volume, pool, port, namespace and file the demo made.
set -euo pipefail
source "$(dirname "$0")/env.sh"

WORK="${DRIFTLESS_DEMO_DIR:-/tmp/driftless-demo}"
STATE="$WORK/state"
LAB="$WORK/lab"
KEYS="$WORK/keys"
# The default image directory: driftless reads path images only from directories the operator allows
# (--image-dir DIR or DRIFTLESS_IMAGE_DIRS; /var/lib/driftless/images when neither is given).
IMAGE=/var/lib/driftless/images/debian-12-guest.qcow2
PHYS_IFACE=dl-phys0
ROUTER=driftless-physnet1

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
run() { printf '\033[2m$ %s\033[0m\n' "$*"; "$@"; }
PHASES=()
phase_start=$SECONDS
phase() { PHASES+=("$(printf '%-14s %4d s' "$1" $((SECONDS - phase_start)))"); phase_start=$SECONDS; }

# ssh from the router namespace, as an operator on physnet1 would.
guest_ssh() {
    local key="$1"; shift
    ip netns exec "$ROUTER" ssh -i "$KEYS/$key" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
        -o ConnectTimeout=5 -o BatchMode=yes -o LogLevel=ERROR "$@"
}

wait_for_ssh() {
    local key="$1" target="$2" deadline=$((SECONDS + ${DRIFTLESS_DEMO_BOOT_TIMEOUT:-600}))
    until guest_ssh "$key" "$target" true 2>/dev/null; do
        if [ $SECONDS -ge $deadline ]; then echo "no SSH answer from $target" >&2; return 1; fi
        sleep 5
    done
    echo "$target answers SSH"
}

cleanup() {
    step "Removing what the demo made"
    for domain in $(virsh -c qemu:///system list --all --name 2>/dev/null | grep -E '^(shop|ops)\.'); do
        # Only the lab's domains that carry Driftless's marker, never anything else on the machine.
        if virsh -c qemu:///system metadata "$domain" --uri https://driftless.dev/xmlns/libvirt/1 >/dev/null 2>&1; then
            virsh -c qemu:///system destroy "$domain" >/dev/null 2>&1 || true
            virsh -c qemu:///system undefine "$domain" --nvram >/dev/null 2>&1 \
                || virsh -c qemu:///system undefine "$domain" >/dev/null 2>&1 || true
            echo "removed domain $domain"
        fi
    done
    for pool in driftless-volumes driftless-images; do
        if virsh -c qemu:///system pool-info "$pool" >/dev/null 2>&1; then
            virsh -c qemu:///system pool-destroy "$pool" >/dev/null 2>&1 || true
            virsh -c qemu:///system pool-undefine "$pool" >/dev/null 2>&1 || true
            echo "removed pool $pool"
        fi
    done
    ovs-vsctl --if-exists del-br br-int && echo "removed bridge br-int"
    scripts/physnet.sh down "$PHYS_IFACE" "$ROUTER"
    # The lab's two pool directories only: /var/lib/driftless/pools itself is where the test bed's hosts
    # mount their own pools (scripts/testbed.sh), and removing it would detach them.
    rm -rf "$WORK" /var/lib/driftless/pools/volumes /var/lib/driftless/pools/images
    echo "removed $WORK and the lab's pools under /var/lib/driftless/pools (the image $IMAGE is kept)"
}

if [ "${1:-}" = "--cleanup" ]; then
    cleanup
    exit 0
fi

step "Installing Debian packages (libgit2, libvirt, QEMU, Open vSwitch, mmdebstrap) and starting the daemons"
scripts/install-deps.sh
scripts/start-ovs.sh
scripts/start-libvirt.sh
phase packages

step "Building driftless (release)"
swift build -c release --product driftless 2>&1 | tail -1
DRIFTLESS="$PWD/.build/release/driftless"
dl() { run "$DRIFTLESS" "$@"; }
phase build

step "The guest image: Debian 12, cloud kernel, cloud-init, openssh-server ($IMAGE)"
read -r _ IMAGE_SHA256 < <(scripts/build-guest-image.sh "$IMAGE" | tail -n1)
echo "$IMAGE_SHA256  $IMAGE" | sha256sum -c
phase image

step "physnet1: a switch and a router namespace holding the gateways 10.10.0.1 and 10.20.0.1"
scripts/physnet.sh up "$PHYS_IFACE" "$ROUTER" 100=10.10.0.1/24 200=10.20.0.1/24

step "Making a git repository of examples/lab in $LAB"
mkdir -p "$WORK" "$KEYS"
# alice's and bob's keys: made once per demo directory, so that a second run changes no guest.
for user in alice bob; do
    [ -f "$KEYS/$user" ] || ssh-keygen -q -t ed25519 -N '' -C "$user@demo" -f "$KEYS/$user"
done
rm -rf "$LAB"
cp -r examples/lab "$LAB"
sed -i "s|sha256: 0\{64\}|sha256: $IMAGE_SHA256|" "$LAB/images.yaml"
for user in alice bob; do
    sed -i "s|ssh-ed25519 [A-Za-z0-9+/=]* $user@lab|$(cat "$KEYS/$user.pub")|" "$LAB/identity.yaml"
done
# Fixed dates and author: on one machine the commits get the same ids on every run.
export GIT_AUTHOR_NAME=Demo GIT_AUTHOR_EMAIL=demo@example.com GIT_COMMITTER_NAME=Demo GIT_COMMITTER_EMAIL=demo@example.com
export GIT_AUTHOR_DATE="2026-01-01T12:00:00Z" GIT_COMMITTER_DATE="2026-01-01T12:00:00Z"
git -C "$LAB" init -q -b main
git -C "$LAB" add -A
git -C "$LAB" commit -q -m "The lab: one host, two projects, three instances"
export DRIFTLESS_STATE="$STATE"

step "Plan: what applying the commit would change (nothing is touched)"
dl plan --repo "$LAB"

step "Apply: the physnet1 trunk, the image and volumes, then the instances, in parallel"
dl apply --repo "$LAB" --yes
phase apply

step "Waiting until the guests boot, take their addresses and keys, and answer SSH on physnet1"
wait_for_ssh alice alice@10.10.0.11
phase "boot to SSH"
wait_for_ssh bob bob@10.10.0.2
wait_for_ssh alice alice@10.20.0.10

step "ssh alice@10.10.0.11 hostname (from the router namespace on physnet1)"
printf '\033[2m$ ssh alice@10.10.0.11 hostname\033[0m\n'
guest_ssh alice alice@10.10.0.11 hostname
printf '\033[2m$ ssh bob@10.10.0.11 hostname   # bob is listed on web-1 too, without sudo\033[0m\n'
guest_ssh bob bob@10.10.0.11 'hostname; sudo -n true 2>/dev/null && echo "bob has sudo" || echo "bob has no sudo"'
printf '\033[2m$ ssh bob@10.20.0.10 hostname   # monitor lists only alice\033[0m\n'
guest_ssh bob bob@10.20.0.10 hostname 2>&1 || echo "(refused: bob has no account on monitor)"

step "What runs now, seen from outside Driftless"
run virsh -c qemu:///system list --all
run ovs-vsctl show

step "Planning again: nothing to do (exit status 0 with --detailed-exitcode)"
dl plan --repo "$LAB" --detailed-exitcode

step "A second commit: web-1 gets more memory (at its next boot)"
sed -i '0,/memory: 512MiB/s//memory: 640MiB/' "$LAB/instances.yaml"
export GIT_AUTHOR_DATE="2026-01-01T12:05:00Z" GIT_COMMITTER_DATE="2026-01-01T12:05:00Z"
git -C "$LAB" commit -q -am "web-1: 640MiB"
run git -C "$LAB" log --oneline
dl plan --repo "$LAB" --format markdown
status=0
"$DRIFTLESS" plan --repo "$LAB" --detailed-exitcode >/dev/null || status=$?
echo "(plan --detailed-exitcode: $status, changes present)"
dl apply --repo "$LAB" --yes

step "Out of band: someone stops monitor and unplugs web-2's port"
run virsh -c qemu:///system destroy ops.monitor
# web-2's tap, which libvirt plugged into br-int (the port's name is the domain's target device).
port=$(virsh -q -c qemu:///system domiflist shop.web-2 | awk '{print $1; exit}')
[ -n "$port" ] && run ovs-vsctl del-port br-int "$port"

step "Drift: the hosts no longer match the last applied commit"
status=0
dl drift --repo "$LAB" --detailed-exitcode || status=$?
echo "(drift --detailed-exitcode: $status)"

step "Heal: apply the last applied commit again"
dl drift --repo "$LAB" --heal
dl drift --repo "$LAB"
wait_for_ssh bob bob@10.10.0.2
phase "drift + heal"

step "History"
dl history
dl status

step "Time per phase"
printf '  %s\n' "${PHASES[@]}"

printf '\nDone. The VMs keep running. Run %s again any time: it converges, never duplicates.\n' "scripts/demo.sh"
printf 'Clean up with: scripts/demo.sh --cleanup\n'
