#!/usr/bin/env bash
# Apply N instances from scratch across the three test bed hosts, against the same N pinned to one host
# of the same bed, to show the hosts are driven in parallel. The instances are QEMU guests under TCG with
# a small empty qcow2 root (64 MiB, 1 vCPU): what is measured is Driftless driving libvirt and Open
# vSwitch (image import, volumes, seeds, defines, starts, ports), not guest boots.
#
#   benchmarks/multi-host-apply.sh [N] [PARALLEL]     default: 30 12
#
# Needs root, the test bed (scripts/testbed.sh up 3) and a built driftless (release: swift build -c
# release --product driftless). Prints the seconds of each apply and the ratio one host / three hosts.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

COUNT="${1:-30}"
PARALLEL="${2:-12}"
DRIFTLESS="${DRIFTLESS:-$PWD/.build/release/driftless}"
[ -x "$DRIFTLESS" ] || { echo "build driftless first: swift build -c release --product driftless" >&2; exit 1; }
TB=/var/lib/driftless-testbed
HOSTS=(tb1 tb2 tb3)
for host in "${HOSTS[@]}"; do
    [ -S "$TB/$host/run-libvirt/libvirt-sock" ] || { echo "the test bed is not up: scripts/testbed.sh up 3" >&2; exit 1; }
done
WORK=/var/tmp/driftless-multihost-bench
PROJECT=mhbench

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
address() { echo "10.77.0.$((10 + ${1#tb}))"; }
virsh_on() { local host="$1"; shift; virsh -q -c "qemu+unix:///system?socket=$TB/$host/run-libvirt/libvirt-sock" "$@"; }

teardown() {
    for host in "${HOSTS[@]}"; do
        for domain in $(virsh_on "$host" list --all --name | grep "^$PROJECT\." || true); do
            virsh_on "$host" destroy "$domain" >/dev/null 2>&1 || true
            virsh_on "$host" undefine "$domain" >/dev/null 2>&1 || true
        done
        for pool in mhb-vols mhb-imgs; do
            for volume in $(virsh_on "$host" vol-list "$pool" --name 2>/dev/null || true); do
                virsh_on "$host" vol-delete "$volume" --pool "$pool" >/dev/null 2>&1 || true
            done
            virsh_on "$host" pool-destroy "$pool" >/dev/null 2>&1 || true
            virsh_on "$host" pool-undefine "$pool" >/dev/null 2>&1 || true
        done
        ovs-vsctl --db="unix:$TB/$host/run-openvswitch/db.sock" --if-exists del-br br-mhb
        scripts/testbed.sh exec "$host" rm -rf /var/lib/driftless/pools/mhb
    done
    rm -rf "$WORK"
}

# manifests PIN: the cloud, every instance pinned to PIN, or scheduled when PIN is empty.
manifests() {
    local pin="$1" i
    cat <<EOF
apiVersion: driftless.dev/v1
kind: Project
metadata: {name: $PROJECT}
spec: {quota: {instances: 1000, vcpus: 1000, memory: 1000GiB}}
---
apiVersion: driftless.dev/v1
kind: Image
metadata: {name: tiny}
spec: {source: {path: $WORK/tiny.qcow2}, sha256: $(sha256sum "$WORK/tiny.qcow2" | cut -d' ' -f1), format: qcow2}
---
apiVersion: driftless.dev/v1
kind: Network
metadata: {name: front, project: $PROJECT}
spec: {cidr: 10.160.0.0/22, vlan: 160}
EOF
    for host in "${HOSTS[@]}"; do
        cat <<EOF
---
apiVersion: driftless.dev/v1
kind: Host
metadata: {name: $host}
spec:
  libvirt: qemu+tls://$(address "$host")/system
  ovsdb: ssl:$(address "$host"):6640
  bridge: br-mhb
  datapath: netdev
  virtualization: qemu
  capacity: {vcpus: 64, memory: 64GiB}
  storagePool: {name: mhb-vols, path: /var/lib/driftless/pools/mhb/vols}
  imagePool: {name: mhb-imgs, path: /var/lib/driftless/pools/mhb/imgs}
EOF
    done
    for i in $(seq 1 "$COUNT"); do
        cat <<EOF
---
apiVersion: driftless.dev/v1
kind: Instance
metadata: {name: vm-$i, project: $PROJECT}
spec: {image: tiny, vcpus: 1, memory: 64MiB, rootDisk: 128MiB, networks: [{network: front}]${pin:+, host: $pin}}
EOF
    done
}

# run LABEL PIN: applies from scratch and prints the seconds.
run() {
    local label="$1" pin="$2"
    teardown
    mkdir -p "$WORK/repo"
    qemu-img create -q -f qcow2 "$WORK/tiny.qcow2" 64M
    manifests "$pin" >"$WORK/repo/cloud.yaml"
    git -C "$WORK/repo" init -q -b main
    git -C "$WORK/repo" add -A
    git -C "$WORK/repo" -c user.name=b -c user.email=b@b commit -q -m bench
    local start end
    start="$(now)"
    "$DRIFTLESS" apply --yes --repo "$WORK/repo" --state "$WORK/state" --image-dir "$WORK" --pki "$TB/pki" \
        --parallel "$PARALLEL" >"$WORK/apply.log" 2>&1 || { cat "$WORK/apply.log" >&2; exit 1; }
    end="$(now)"
    local spread=""
    for host in "${HOSTS[@]}"; do spread+=" $host=$(virsh_on "$host" list --name | grep -c "^$PROJECT\." || true)"; done
    printf '%-16s %3d instances, --parallel %d: %6s s  (running:%s)\n' "$label" "$COUNT" "$PARALLEL" "$(elapsed "$start" "$end")" "$spread" >&2
    elapsed "$start" "$end"
}

trap teardown EXIT
one=$(run "one host (tb1)" tb1)
three=$(run "three hosts" "")
awk -v a="$one" -v b="$three" 'BEGIN { printf "ratio one host / three hosts: %.2f\n", a / b }'
