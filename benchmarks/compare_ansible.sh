#!/usr/bin/env bash
# Side-by-side benchmark: Driftless against an Ansible playbook (community.libvirt and
# openvswitch.openvswitch) reaching the same end state on the real libvirtd and Open vSwitch:
# N instances (default 20) on 4 VLAN networks, N/2 data volumes, from scratch and then a
# no-op re-run. The goal: Driftless at least 5x faster from scratch, at least 20x on the no-op.
#
#   bash benchmarks/compare_ansible.sh [--count N] [--keep] [--ansible-only]
#
#   --count N        instances (default 20)
#   --keep           leave the Ansible leg's end state in place (skips its teardown and the
#                    Driftless leg, whose domains have the same bench.web-NN names)
#   --ansible-only   skip the Driftless leg
#   --driftless-only skip the Ansible leg (DRIFTLESS_PARALLEL sets --parallel, default 8)
#
# Needs root, Debian's `ansible` package (carries both collections), python3-libvirt and
# python3-lxml for /usr/bin/python3, qemu-utils and genisoimage. libvirtd and Open vSwitch are
# started with scripts/start-*.sh when their sockets do not answer; never restarted.
# The legs run one after the other and each removes what it made, because both name their
# domains bench.web-NN. The layout of the instances is in benchmarks/ansible/playbook.yml.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$HERE")"
ANSIBLE_DIR="$HERE/ansible"
COUNT=20
KEEP=0
ANSIBLE_ONLY=0
DRIFTLESS_ONLY=0
while [ $# -gt 0 ]; do
    case "$1" in
        --count) COUNT="$2"; shift 2 ;;
        --keep) KEEP=1; shift ;;
        --ansible-only) ANSIBLE_ONLY=1; shift ;;
        --driftless-only) DRIFTLESS_ONLY=1; shift ;;
        -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
        *) echo "compare_ansible: unknown argument $1" >&2; exit 2 ;;
    esac
done

URI=qemu:///system
BENCH_ROOT=/var/lib/driftless-bench/ansible
SOURCE_IMAGE="$BENCH_ROOT/seed/tiny.qcow2"
# Driftless reads path images only from directories the operator allows.
export DRIFTLESS_IMAGE_DIRS="$BENCH_ROOT/seed"
BRIDGE=br-bench-a
LOG_DIR="$(mktemp -d /tmp/driftless-compare-ansible.XXXXXX)"

log() { printf 'compare_ansible: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# --- Preflight -------------------------------------------------------------------------------
preflight() {
    [ "$(id -u)" -eq 0 ] || die "must run as root"
    virsh -q -c "$URI" version >/dev/null 2>&1 || bash "$REPO/scripts/start-libvirt.sh"
    ovs-vsctl --timeout=5 show >/dev/null 2>&1 || bash "$REPO/scripts/start-ovs.sh"
    command -v ansible-playbook >/dev/null || die "ansible missing: apt-get install -y ansible"
    local collections
    collections="$(ansible-galaxy collection list 2>/dev/null)"
    grep -q '^community.libvirt ' <<<"$collections" || die "collection community.libvirt missing"
    grep -q '^openvswitch.openvswitch ' <<<"$collections" || die "collection openvswitch.openvswitch missing"
    /usr/bin/python3 -c 'import libvirt, lxml' 2>/dev/null \
        || die "python3-libvirt / python3-lxml missing: apt-get install -y python3-libvirt python3-lxml"
    command -v genisoimage >/dev/null || die "genisoimage missing: apt-get install -y genisoimage"
    command -v qemu-img >/dev/null || die "qemu-img missing: apt-get install -y qemu-utils"
    log "ansible $(ansible --version | sed -n '1s/.*core \([0-9.]*\).*/\1/p'), $(grep -E '^(community.libvirt|openvswitch.openvswitch) ' <<<"$collections" | awk '{printf "%s %s  ", $1, $2}')"
}

# --- Ansible leg -----------------------------------------------------------------------------
ANSIBLE_SCRATCH=""
ANSIBLE_NOOP=""

# run_playbook LABEL: runs the playbook, leaves seconds in $RUN_SECONDS and the recap's
# changed= count in $RUN_CHANGED; fails on a failed or unreachable task.
# The per-task profile (ansible.posix.profile_tasks) is in the log.
run_playbook() {
    local label="$1" out="$LOG_DIR/ansible-$1.log" times="$LOG_DIR/ansible-$1.time" recap rc=0 cpu
    local TIMEFORMAT='%R %U %S'
    { time (cd "$ANSIBLE_DIR" && ANSIBLE_CALLBACKS_ENABLED=ansible.posix.profile_tasks \
        ansible-playbook playbook.yml -e "bench_count=$COUNT" >"$out" 2>&1); } 2>"$times" || rc=$?
    if [ "$rc" -ne 0 ]; then
        tail -30 "$out" >&2
        die "ansible-playbook ($label) failed, log: $out"
    fi
    local wall user sys
    read -r wall user sys <"$times"
    RUN_SECONDS="$(awk -v w="$wall" 'BEGIN { printf "%.1f", w }')"
    cpu="$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.1f", u + s }')"
    recap="$(grep -E '^localhost +:' "$out" | tail -1 | tr -s ' ')"
    RUN_CHANGED="$(sed -n 's/.*changed=\([0-9]*\).*/\1/p' <<<"$recap")"
    log "ansible $label: ${RUN_SECONDS}s wall, ${cpu}s CPU (user+sys); $recap"
}

verify_end_state() {
    local running ports tagged
    running="$(virsh -q -c "$URI" list --state-running --name | grep -c '^bench\.web-' || true)"
    [ "$running" -eq "$COUNT" ] || die "expected $COUNT running bench.web-* domains, found $running"
    ports="$(ovs-vsctl --timeout=10 list-ports "$BRIDGE" | grep -c '^abw' || true)"
    tagged="$(ovs-vsctl --timeout=10 --bare --columns=name,tag find Port 'tag>=101' 'tag<=104' | grep -c '^abw' || true)"
    [ "$ports" -gt 0 ] && [ "$ports" -eq "$tagged" ] || die "$ports ports on $BRIDGE but $tagged carry a VLAN tag 101..104"
    [ "$(ovs-vsctl get Bridge "$BRIDGE" datapath_type)" = netdev ] || die "$BRIDGE is not on the netdev datapath"
    log "verified: $running domains running, $ports ports on $BRIDGE all tagged"
}

ansible_leg() {
    log "ansible leg: $COUNT instances, logs in $LOG_DIR"
    bash "$ANSIBLE_DIR/teardown.sh" >/dev/null
    mkdir -p "$(dirname "$SOURCE_IMAGE")"
    qemu-img create -q -f qcow2 "$SOURCE_IMAGE" 64M

    run_playbook from-scratch
    ANSIBLE_SCRATCH="$RUN_SECONDS"
    verify_end_state

    run_playbook no-op
    ANSIBLE_NOOP="$RUN_SECONDS"
    [ "$RUN_CHANGED" = 0 ] || die "the no-op run changed $RUN_CHANGED things (log: $LOG_DIR/ansible-no-op.log)"
    verify_end_state

    if [ "$KEEP" = 1 ]; then
        log "--keep: leaving the Ansible leg's end state in place"
    else
        bash "$ANSIBLE_DIR/teardown.sh" >&2
    fi
}

# --- Driftless leg ---------------------------------------------------------------------------
DRIFTLESS_SCRATCH=""
DRIFTLESS_NOOP=""

# The same end state through Driftless: a manifest repository (git) for the layout above, then
# `driftless apply --yes` from scratch and again (no-op), each timed, each end state checked from
# outside with virsh and ovs-vsctl. Its own bridge, pools and state directory; removed afterwards
# by applying a commit that declares nothing (which needs --allow-mass-delete).
DL_ROOT=/var/lib/driftless-bench/driftless
DL_BRIDGE=br-bench-d

write_manifests() { # write_manifests DIR COUNT
    local dir="$1" count="$2" i nn vlan1 vlan2 nets vols
    {
        cat <<YAML
apiVersion: driftless.dev/v1
kind: Host
metadata: {name: local}
spec:
  libvirt: $URI
  ovsdb: unix:/var/run/openvswitch/db.sock
  bridge: $DL_BRIDGE
  datapath: netdev
  storagePool: {name: bench-dl-vols, path: $DL_ROOT/pools/volumes}
  imagePool: {name: bench-dl-images, path: $DL_ROOT/pools/images}
---
apiVersion: driftless.dev/v1
kind: Project
metadata: {name: bench}
YAML
        [ "$count" -gt 0 ] || return 0
        cat <<YAML
---
apiVersion: driftless.dev/v1
kind: User
metadata: {name: bench}
spec:
  sshKeys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAII707D44LQTl/mEfM+bS16dcCPfNFO+Lu/d8nmNiQVA0 bench@lab"]
---
apiVersion: driftless.dev/v1
kind: Image
metadata: {name: tiny}
spec:
  source: {path: $SOURCE_IMAGE}
  sha256: 1b7af784841125887e688254229e282829e17245d0e47fe7280da9b68a30d9e1
  format: qcow2
YAML
        for vlan in 101 102 103 104; do
            printf -- '---\napiVersion: driftless.dev/v1\nkind: Network\nmetadata: {name: vlan%s, project: bench}\nspec: {cidr: 10.%s.0.0/24, vlan: %s}\n' "$vlan" "$vlan" "$vlan"
        done
        for i in $(seq 1 "$count"); do
            nn="$(printf '%02d' "$i")"
            vlan1=$((101 + (i - 1) % 4))
            nets="{network: vlan$vlan1}"
            if [ $((i % 2)) -eq 0 ]; then vlan2=$((101 + i % 4)); nets="$nets, {network: vlan$vlan2}"; fi
            vols=""
            if [ "$i" -le $((count / 2)) ]; then
                vols="data-$nn"
                printf -- '---\napiVersion: driftless.dev/v1\nkind: Volume\nmetadata: {name: data-%s, project: bench}\nspec: {size: 1GiB, deletionPolicy: Delete}\n' "$nn"
            fi
            cat <<YAML
---
apiVersion: driftless.dev/v1
kind: Instance
metadata: {name: web-$nn, project: bench}
spec:
  image: tiny
  vcpus: 1
  memory: 64MiB
  rootDisk: 1GiB
  networks: [$nets]
  volumes: [$vols]
  users: [bench]
YAML
        done
    } >"$dir/cloud.yaml"
}

verify_driftless_end_state() {
    local running ports tagged nics
    running="$(virsh -q -c "$URI" list --state-running --name | grep -c '^bench\.web-' || true)"
    [ "$running" -eq "$COUNT" ] || die "expected $COUNT running bench.web-* domains, found $running"
    nics=$((COUNT + COUNT / 2))
    ports="$(ovs-vsctl --timeout=10 list-ports "$DL_BRIDGE" | wc -l)"
    tagged="$(ovs-vsctl --timeout=10 --bare --columns=name find Port 'tag>=101' 'tag<=104' | grep -c '^dl' || true)"
    [ "$ports" -eq "$nics" ] && [ "$tagged" -eq "$nics" ] || die "expected $nics tagged ports on $DL_BRIDGE, found $ports ($tagged tagged)"
    [ "$(ovs-vsctl get Bridge "$DL_BRIDGE" datapath_type)" = netdev ] || die "$DL_BRIDGE is not on the netdev datapath"
    log "verified: $running domains running, $ports ports on $DL_BRIDGE all tagged"
}

# timed LABEL COMMAND...: runs the command, leaves wall seconds in $RUN_SECONDS.
timed() {
    local label="$1" out="$LOG_DIR/driftless-$1.log" start end
    shift
    start="$(date +%s.%N)"
    "$@" >"$out" 2>&1 || { tail -30 "$out" >&2; die "driftless ($label) failed, log: $out"; }
    end="$(date +%s.%N)"
    RUN_SECONDS="$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.1f", e - s }')"
    log "driftless $label: ${RUN_SECONDS}s wall"
}

driftless_teardown() {
    local repo="$DL_ROOT/repo" bin="$1"
    if [ -d "$repo/.git" ]; then
        write_manifests "$repo" 0
        git -C "$repo" -c user.name=b -c user.email=b@b commit -q -am "remove everything" || true
        "$bin" apply --repo "$repo" --state "$DL_ROOT/state" --yes --allow-mass-delete --allow-replace \
            --shutdown-timeout 0 --parallel 8 >"$LOG_DIR/driftless-teardown.log" 2>&1 || true
    fi
    for pool in bench-dl-vols bench-dl-images; do
        virsh -q -c "$URI" pool-destroy "$pool" >/dev/null 2>&1 || true
        virsh -q -c "$URI" pool-undefine "$pool" >/dev/null 2>&1 || true
    done
    ovs-vsctl --if-exists del-br "$DL_BRIDGE"
    rm -rf "$DL_ROOT"
}

driftless_leg() {
    log "driftless leg: building the release binary"
    (cd "$REPO" && swift build -c release --product driftless >/dev/null 2>&1) || die "swift build failed"
    local bin="$REPO/.build/release/driftless" repo="$DL_ROOT/repo"
    driftless_teardown "$bin"
    mkdir -p "$repo" "$(dirname "$SOURCE_IMAGE")"
    [ -f "$SOURCE_IMAGE" ] || qemu-img create -q -f qcow2 "$SOURCE_IMAGE" 64M
    git -C "$repo" init -q -b main
    write_manifests "$repo" "$COUNT"
    git -C "$repo" add -A
    git -C "$repo" -c user.name=b -c user.email=b@b commit -q -m "bench: $COUNT instances"

    timed from-scratch "$bin" apply --repo "$repo" --state "$DL_ROOT/state" --yes --parallel "${DRIFTLESS_PARALLEL:-8}"
    DRIFTLESS_SCRATCH="$RUN_SECONDS"
    verify_driftless_end_state

    timed no-op "$bin" apply --repo "$repo" --state "$DL_ROOT/state" --yes
    DRIFTLESS_NOOP="$RUN_SECONDS"
    grep -q '^No changes' "$LOG_DIR/driftless-no-op.log" || die "the no-op run planned changes (log: $LOG_DIR/driftless-no-op.log)"
    verify_driftless_end_state

    driftless_teardown "$bin"
}

# --- Main ------------------------------------------------------------------------------------
preflight
if [ "$DRIFTLESS_ONLY" = 0 ]; then ansible_leg; fi
if [ "$ANSIBLE_ONLY" = 0 ] && [ "$KEEP" = 0 ]; then driftless_leg; fi

echo "instances: $COUNT"
echo "ansible from-scratch: $ANSIBLE_SCRATCH s"
echo "ansible no-op: $ANSIBLE_NOOP s"
status=0
if [ -n "$DRIFTLESS_SCRATCH" ] && [ -n "$DRIFTLESS_NOOP" ]; then
    echo "driftless from-scratch: $DRIFTLESS_SCRATCH s"
    echo "driftless no-op: $DRIFTLESS_NOOP s"
    ratio() { awk -v a="$1" -v d="$2" 'BEGIN { printf "%.1f", (d > 0 ? a / d : 0) }'; }
    scratch_ratio="$(ratio "$ANSIBLE_SCRATCH" "$DRIFTLESS_SCRATCH")"
    noop_ratio="$(ratio "$ANSIBLE_NOOP" "$DRIFTLESS_NOOP")"
    verdict() { awk -v r="$1" -v g="$2" 'BEGIN { print (r >= g ? "met" : "MISSED") }'; }
    echo "speedup from-scratch: ${scratch_ratio}x (goal 5x: $(verdict "$scratch_ratio" 5))"
    echo "speedup no-op: ${noop_ratio}x (goal 20x: $(verdict "$noop_ratio" 20))"
    [ "$(verdict "$scratch_ratio" 5)" = met ] && [ "$(verdict "$noop_ratio" 20)" = met ] || status=1
else
    echo "driftless: not measured"
fi
exit "$status"
