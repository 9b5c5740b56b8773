#!/usr/bin/env bash
# Removes everything the Ansible leg of the benchmark made: the bench.* domains, the OVS
# bridge br-bench-a, the pools bench-ansible-vols / bench-ansible-images and the files under
# /var/lib/driftless-bench/ansible. Idempotent. Never touches the daemons themselves.
set -uo pipefail

URI="${BENCH_URI:-qemu:///system}"
ROOT="${BENCH_ROOT:-/var/lib/driftless-bench/ansible}"
BRIDGE="${BENCH_BRIDGE:-br-bench-a}"
POOLS=(bench-ansible-vols bench-ansible-images)
KEEP_SOURCE=0
[ "${1:-}" = "--keep-source" ] && KEEP_SOURCE=1

virsh_() { virsh -q -c "$URI" "$@"; }

for dom in $(virsh_ list --all --name | grep '^bench\.' || true); do
    virsh_ destroy "$dom" >/dev/null 2>&1 || true
    virsh_ undefine "$dom" --nvram >/dev/null 2>&1 || virsh_ undefine "$dom" >/dev/null 2>&1 || true
done

ovs-vsctl --timeout=10 --if-exists del-br "$BRIDGE"

for pool in "${POOLS[@]}"; do
    if virsh_ pool-info "$pool" >/dev/null 2>&1; then
        virsh_ pool-destroy "$pool" >/dev/null 2>&1 || true
        virsh_ pool-undefine "$pool" >/dev/null 2>&1 || true
    fi
done

if [ "$KEEP_SOURCE" = 1 ]; then
    rm -rf "$ROOT/pools" "$ROOT/seeds"
else
    rm -rf "$ROOT"
fi
echo "teardown: removed bench.* domains, bridge $BRIDGE, pools ${POOLS[*]}, files under $ROOT"
