#!/usr/bin/env bash
# The Driftless demo on the bundled example, end to end with real VMs:
#   install and start libvirtd/QEMU and Open vSwitch (userspace datapath), build, make a tiny qcow2 image,
#   turn examples/lab into a git repository, then: plan, apply (QEMU processes start), virsh list and
#   ovs-vsctl show, a second commit that changes an instance with its plan and apply, an out-of-band
#   change and the drift report that finds it, and healing it.
#
# Running it again is safe: it converges the same hosts again and creates nothing twice.
#   scripts/demo.sh --cleanup     removes every domain, volume, pool, port and file the demo made.
set -euo pipefail
source "$(dirname "$0")/env.sh"

WORK="${DRIFTLESS_DEMO_DIR:-/tmp/driftless-demo}"
STATE="$WORK/state"
LAB="$WORK/lab"
# The default image directory: driftless reads path images only from directories the operator allows
# (--image-dir DIR or DRIFTLESS_IMAGE_DIRS; /var/lib/driftless/images when neither is given).
IMAGE=/var/lib/driftless/images/tiny.qcow2
IMAGE_SHA256=1b7af784841125887e688254229e282829e17245d0e47fe7280da9b68a30d9e1

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
run() { printf '\033[2m$ %s\033[0m\n' "$*"; "$@"; }

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
    rm -rf "$WORK" /var/lib/driftless/pools
    echo "removed $WORK and /var/lib/driftless/pools (the image $IMAGE is kept)"
}

if [ "${1:-}" = "--cleanup" ]; then
    cleanup
    exit 0
fi

step "Installing Debian packages (libgit2, libvirt, QEMU, Open vSwitch) and starting the daemons"
scripts/install-deps.sh
scripts/start-ovs.sh
scripts/start-libvirt.sh

step "Building driftless (release)"
swift build -c release --product driftless 2>&1 | tail -1
DRIFTLESS="$PWD/.build/release/driftless"
dl() { run "$DRIFTLESS" "$@"; }

step "Making the tiny image the manifests point at ($IMAGE)"
mkdir -p "$(dirname "$IMAGE")"
if ! echo "$IMAGE_SHA256  $IMAGE" | sha256sum -c --quiet >/dev/null 2>&1; then
    rm -f "$IMAGE"
    (cd "$(dirname "$IMAGE")" && qemu-img create -q -f qcow2 tiny.qcow2 64M)
fi
echo "$IMAGE_SHA256  $IMAGE" | sha256sum -c

step "Making a git repository of examples/lab in $LAB"
# Fixed dates and author: the commits get the same ids on every run.
export GIT_AUTHOR_NAME=Demo GIT_AUTHOR_EMAIL=demo@example.com GIT_COMMITTER_NAME=Demo GIT_COMMITTER_EMAIL=demo@example.com
export GIT_AUTHOR_DATE="2026-01-01T12:00:00Z" GIT_COMMITTER_DATE="2026-01-01T12:00:00Z"
rm -rf "$LAB"
mkdir -p "$WORK"
cp -r examples/lab "$LAB"
git -C "$LAB" init -q -b main
git -C "$LAB" add -A
git -C "$LAB" commit -q -m "The lab: one host, two projects, three instances"
export DRIFTLESS_STATE="$STATE"

step "Plan: what applying the commit would change (nothing is touched)"
dl plan --repo "$LAB"

step "Apply: images and volumes first, then the instances, in parallel"
dl apply --repo "$LAB" --yes

step "What runs now, seen from outside Driftless"
run virsh -c qemu:///system list --all
run ovs-vsctl show
pgrep -a qemu-system | sed -E 's/^([0-9]+) .*-name guest=([^,]+).*/  qemu pid \1 runs \2/' || true

step "Planning again: nothing to do (exit status 0 with --detailed-exitcode)"
dl plan --repo "$LAB" --detailed-exitcode

step "A second commit: web-1 gets more memory"
sed -i '0,/memory: 128MiB/s//memory: 192MiB/' "$LAB/instances.yaml"
export GIT_AUTHOR_DATE="2026-01-01T12:05:00Z" GIT_COMMITTER_DATE="2026-01-01T12:05:00Z"
git -C "$LAB" commit -q -am "web-1: 192MiB"
run git -C "$LAB" log --oneline
dl plan --repo "$LAB" --format markdown
status=0
"$DRIFTLESS" plan --repo "$LAB" --detailed-exitcode >/dev/null || status=$?
echo "(plan --detailed-exitcode: $status, changes present)"
dl apply --repo "$LAB" --yes

step "Out of band: someone stops monitor and unplugs web-2's port"
run virsh -c qemu:///system destroy ops.monitor
port=$(ovs-vsctl list-ports br-int | head -n1)
[ -n "$port" ] && run ovs-vsctl del-port br-int "$port"

step "Drift: the hosts no longer match the last applied commit"
status=0
dl drift --repo "$LAB" --detailed-exitcode || status=$?
echo "(drift --detailed-exitcode: $status)"

step "Heal: apply the last applied commit again"
dl drift --repo "$LAB" --heal
dl drift --repo "$LAB"

step "History"
dl history
dl status

printf '\nDone. The VMs keep running. Run %s again any time: it converges, never duplicates.\n' "scripts/demo.sh"
printf 'Clean up with: scripts/demo.sh --cleanup\n'
