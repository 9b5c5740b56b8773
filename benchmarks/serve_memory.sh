#!/usr/bin/env bash
# Resident memory of `driftless serve` with 1,000 managed instances (issue 6), as a separate process on
# the real libvirtd: the instances are defined with power: stopped (1,000 QEMU guests do not fit in
# 24 GiB), each with a volume; serve observes all of them on every drift check (every 2 s here).
#
#   bash benchmarks/serve_memory.sh [COUNT]
#
# Prints the apply time of the 1,000 instances, then serve's VmRSS sampled every second for 30 s
# (peak and last) and VmHWM. Removes everything at the end. Goal: under 100 MB.
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT="${1:-1000}"
ID="$(head -c3 /dev/urandom | od -An -tx1 | tr -d ' \n')"
WORK="/var/tmp/driftless-mem-$ID"
REPO="$WORK/repo"; STATE="$WORK/state"
swift build -c release --product driftless >/dev/null 2>&1
BIN="$PWD/.build/release/driftless"
mkdir -p "$REPO"
qemu-img create -q -f qcow2 "$WORK/tiny.qcow2" 64M
{
  cat <<YAML
apiVersion: driftless.dev/v1
kind: Host
metadata: {name: local}
spec:
  bridge: br-m$ID
  datapath: netdev
  storagePool: {name: mem-$ID-vols, path: $WORK/vols}
  imagePool: {name: mem-$ID-imgs, path: $WORK/imgs}
---
apiVersion: driftless.dev/v1
kind: Project
metadata: {name: mem$ID}
---
apiVersion: driftless.dev/v1
kind: Image
metadata: {name: tiny}
spec: {source: {path: $WORK/tiny.qcow2}, sha256: 1b7af784841125887e688254229e282829e17245d0e47fe7280da9b68a30d9e1, format: qcow2}
---
apiVersion: driftless.dev/v1
kind: Network
metadata: {name: net, project: mem$ID}
spec: {cidr: 10.60.0.0/20, vlan: 60}
YAML
  for i in $(seq 1 "$COUNT"); do
    cat <<YAML
---
apiVersion: driftless.dev/v1
kind: Volume
metadata: {name: v$i, project: mem$ID}
spec: {size: 16MiB, deletionPolicy: Delete}
---
apiVersion: driftless.dev/v1
kind: Instance
metadata: {name: vm$i, project: mem$ID}
spec: {image: tiny, vcpus: 1, memory: 64MiB, rootDisk: 128MiB, power: stopped, networks: [{network: net}], volumes: [v$i]}
YAML
  done
} > "$REPO/cloud.yaml"
git -C "$REPO" init -q -b main && git -C "$REPO" add -A && git -C "$REPO" -c user.name=b -c user.email=b@b commit -q -m mem
cleanup() {
  [ -n "${SERVE:-}" ] && kill -TERM "$SERVE" 2>/dev/null && wait "$SERVE" 2>/dev/null || true
  printf 'apiVersion: driftless.dev/v1\nkind: Host\nmetadata: {name: local}\nspec:\n  bridge: br-m%s\n  datapath: netdev\n  storagePool: {name: mem-%s-vols, path: %s/vols}\n  imagePool: {name: mem-%s-imgs, path: %s/imgs}\n' \
    "$ID" "$ID" "$WORK" "$ID" "$WORK" > "$REPO/cloud.yaml"
  git -C "$REPO" -c user.name=b -c user.email=b@b commit -q -am empty || true
  "$BIN" apply --repo "$REPO" --state "$STATE" --yes --allow-mass-delete --allow-replace --shutdown-timeout 0 --parallel 8 >/dev/null 2>&1 || true
  for pool in "mem-$ID-vols" "mem-$ID-imgs"; do virsh -q pool-destroy "$pool" >/dev/null 2>&1 || true; virsh -q pool-undefine "$pool" >/dev/null 2>&1 || true; done
  ovs-vsctl --if-exists del-br "br-m$ID"
  rm -rf "$WORK"
}
trap cleanup EXIT
start=$(date +%s.%N)
"$BIN" apply --repo "$REPO" --state "$STATE" --yes --parallel 8 >"$WORK/apply.log" 2>&1 || { tail -20 "$WORK/apply.log"; exit 1; }
echo "apply of $COUNT stopped instances with volumes: $(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN{printf "%.1f", e-s}') s"
"$BIN" serve --repo "$REPO" --state "$STATE" --listen 127.0.0.1:0 --interval 1h --drift-interval 2s >"$WORK/serve.log" 2>&1 &
SERVE=$!
peak=0; last=0
for _ in $(seq 1 30); do
  sleep 1
  last=$(awk '/VmRSS/ {print int($2/1024)}' "/proc/$SERVE/status")
  [ "$last" -gt "$peak" ] && peak=$last
done
hwm=$(awk '/VmHWM/ {print int($2/1024)}' "/proc/$SERVE/status")
checks=$(grep -c "drift check" "$WORK/serve.log" || true)
echo "serve with $COUNT managed instances: VmRSS peak $peak MiB, last $last MiB, VmHWM $hwm MiB over 30 s of drift checks every 2 s"
