#!/usr/bin/env bash
# From `driftless apply` to every guest answering SSH, for N guests, beside the floor measured in the
# same run: the same domains (their XML, a fresh root overlay, the same seed) defined and started by
# hand with virsh, in parallel, until SSH answers. Guests boot under TCG (512 MiB, 1 vCPU).
#
#   benchmarks/guest-ssh.sh [N...]        default: 1 10
#
# Needs root, the daemons (scripts/start-libvirt.sh, scripts/start-ovs.sh), a built driftless (release:
# swift build -c release --product driftless) and the guest image (scripts/build-guest-image.sh).
# Prints one line per N: driftless seconds, floor seconds, and the ratio (goal: at most 1.3).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

COUNTS=("$@")
[ ${#COUNTS[@]} -gt 0 ] || COUNTS=(1 10)
DRIFTLESS="${DRIFTLESS:-$PWD/.build/release/driftless}"
[ -x "$DRIFTLESS" ] || { echo "build driftless first: swift build -c release --product driftless" >&2; exit 1; }
WORK=/var/tmp/driftless-bench
IMAGE=/var/lib/driftless/images/debian-12-guest.qcow2
read -r _ SHA < <(scripts/build-guest-image.sh "$IMAGE" | tail -n1)
IFACE=dlb-phys0 ROUTER=dlb-router BRIDGE=br-bench PROJECT=bench
VIRSH=(virsh -q -c qemu:///system)

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

teardown() {
    for domain in $("${VIRSH[@]}" list --all --name | grep "^$PROJECT\." || true); do
        "${VIRSH[@]}" destroy "$domain" >/dev/null 2>&1 || true
        "${VIRSH[@]}" undefine "$domain" >/dev/null 2>&1 || true
    done
    for pool in dlb-vols dlb-imgs; do
        "${VIRSH[@]}" pool-destroy "$pool" >/dev/null 2>&1 || true
        "${VIRSH[@]}" pool-undefine "$pool" >/dev/null 2>&1 || true
    done
    ovs-vsctl --if-exists del-br "$BRIDGE"
    rm -rf "$WORK"
}

# Waits until every address answers SSH as alice; prints nothing, returns when all do.
wait_all() {
    local pids=()
    for address in "$@"; do
        (
            until ip netns exec "$ROUTER" ssh -i "$WORK/alice" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
                -o ConnectTimeout=4 -o BatchMode=yes -o LogLevel=ERROR "alice@$address" true 2>/dev/null; do
                sleep 1
            done
        ) &
        pids+=($!)
    done
    wait "${pids[@]}"
}

manifests() {
    local count=$1
    cat <<EOF
apiVersion: driftless.dev/v1
kind: Host
metadata: {name: local}
spec:
  bridge: $BRIDGE
  datapath: netdev
  virtualization: qemu
  physicalNetworks: [{name: physnet1, interface: $IFACE}]
  storagePool: {name: dlb-vols, path: $WORK/vols}
  imagePool: {name: dlb-imgs, path: $WORK/imgs}
  capacity: {vcpus: 64, memory: 64GiB}
---
apiVersion: driftless.dev/v1
kind: Project
metadata: {name: $PROJECT}
---
apiVersion: driftless.dev/v1
kind: User
metadata: {name: alice}
spec: {sshKeys: ["$(cat "$WORK/alice.pub")"], roles: [{project: $PROJECT, role: admin}]}
---
apiVersion: driftless.dev/v1
kind: Image
metadata: {name: debian-12}
spec: {source: {path: $IMAGE}, sha256: $SHA, format: qcow2, minDisk: 2GiB}
---
apiVersion: driftless.dev/v1
kind: Network
metadata: {name: front, project: $PROJECT}
spec: {cidr: 10.150.0.0/24, gateway: 10.150.0.1, vlan: 150, physicalNetwork: physnet1}
EOF
    for i in $(seq 1 "$count"); do
        cat <<EOF
---
apiVersion: driftless.dev/v1
kind: Instance
metadata: {name: vm-$i, project: $PROJECT}
spec: {image: debian-12, vcpus: 1, memory: 512MiB, rootDisk: 3GiB, networks: [{network: front, ip: 10.150.0.$((10 + i))}], users: [alice]}
EOF
    done
}

scripts/physnet.sh up "$IFACE" "$ROUTER" 150=10.150.0.1/24 >/dev/null
results=()
for count in "${COUNTS[@]}"; do
    teardown
    mkdir -p "$WORK/repo" "$WORK/saved"
    ssh-keygen -q -t ed25519 -N '' -f "$WORK/alice"
    addresses=()
    for i in $(seq 1 "$count"); do addresses+=("10.150.0.$((10 + i))"); done
    manifests "$count" >"$WORK/repo/cloud.yaml"
    git -C "$WORK/repo" init -q -b main
    git -C "$WORK/repo" add -A
    git -C "$WORK/repo" -c user.name=bench -c user.email=b@example.com commit -q -m bench
    "$DRIFTLESS" plan --repo "$WORK/repo" --state "$WORK/state" >/dev/null
    # Driftless's time includes importing the image (about 6 s for 840 MiB: copy and sha256); the floor
    # starts from the image already on the host, so the comparison is conservative.

    echo "guest-ssh: $count guest(s): driftless apply until SSH" >&2
    start=$(now)
    "$DRIFTLESS" apply --repo "$WORK/repo" --state "$WORK/state" --yes >/dev/null 2>"$WORK/apply.log"
    applied=$(now)
    wait_all "${addresses[@]}"
    done_driftless=$(now)
    t_driftless=$(elapsed "$start" "$done_driftless")
    t_apply=$(elapsed "$start" "$applied")

    # The floor: the same definitions, fresh overlays on the same image, the same seeds, by hand.
    for domain in $("${VIRSH[@]}" list --all --name | grep "^$PROJECT\."); do
        "${VIRSH[@]}" dumpxml --inactive "$domain" >"$WORK/saved/$domain.xml"
        "${VIRSH[@]}" destroy "$domain" >/dev/null
        "${VIRSH[@]}" undefine "$domain" >/dev/null
    done
    image_copy=$(ls "$WORK"/imgs/*.qcow2 | head -n1)
    for xml in "$WORK"/saved/*.xml; do
        root=$(grep -o "file='[^']*root[^']*'" "$xml" | head -n1 | cut -d"'" -f2)
        rm -f "$root"
        qemu-img create -q -f qcow2 -b "$image_copy" -F qcow2 "$root" 3G
        chown libvirt-qemu:libvirt-qemu "$root" 2>/dev/null || true
    done
    echo "guest-ssh: $count guest(s): virsh define + start until SSH (the floor)" >&2
    start=$(now)
    for xml in "$WORK"/saved/*.xml; do
        ( "${VIRSH[@]}" define "$xml" >/dev/null && "${VIRSH[@]}" start "$(basename "$xml" .xml)" >/dev/null ) &
    done
    wait
    wait_all "${addresses[@]}"
    t_floor=$(elapsed "$start" "$(now)")
    ratio=$(awk -v a="$t_driftless" -v b="$t_floor" 'BEGIN { printf "%.2f", a / b }')
    results+=("$(printf '%2d guest(s): driftless %6.1f s (apply %4.1f s), virsh floor %6.1f s, ratio %s' \
        "$count" "$t_driftless" "$t_apply" "$t_floor" "$ratio")")
    echo "${results[-1]}" >&2
done
teardown
scripts/physnet.sh down "$IFACE" "$ROUTER" >/dev/null
printf 'apply → SSH (TCG, 512 MiB, 1 vCPU each, %s cores)\n' "$(nproc)"
printf '  %s\n' "${results[@]}"
