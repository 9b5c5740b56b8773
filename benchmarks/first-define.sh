#!/usr/bin/env bash
# The first `virsh define` after libvirtd starts on a fresh machine: libvirtd has no cached QEMU
# capabilities and probes QEMU. With /dev/kvm left 0600 root (no udev here) libvirtd re-probed on every
# call (59 s for one define); scripts/start-libvirt.sh applies Debian's udev rule (group kvm, 0660).
#
#   benchmarks/first-define.sh [ROUNDS]     default 3; restarts the machine's libvirtd each round
#
# Prints the first define's time per round, and a second define's for comparison. Goal: under 1 s.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS="${1:-3}"
VIRSH=(virsh -q -c qemu:///system)
xml() {
    cat <<EOF2
<domain type='qemu'><name>$1</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>
<os><type arch='x86_64'>hvm</type></os></domain>
EOF2
}
ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", (b - a) * 1000 }'; }
echo "first define after a libvirtd start with an empty QEMU capability cache (/dev/kvm: $(stat -c '%G %a' /dev/kvm 2>/dev/null || echo absent))"
for round in $(seq 1 "$ROUNDS"); do
    scripts/stop-libvirt.sh >/dev/null 2>&1
    rm -rf /var/cache/libvirt/qemu/capabilities
    scripts/start-libvirt.sh >/dev/null 2>&1
    for n in 1 2; do
        name="dl-first-define-$n"
        xml "$name" >"/tmp/$name.xml"
        start=$(date +%s.%N)
        "${VIRSH[@]}" define "/tmp/$name.xml" >/dev/null
        end=$(date +%s.%N)
        "${VIRSH[@]}" undefine "$name" >/dev/null
        times[$n]=$(ms "$start" "$end")
    done
    printf '  round %d: first define %5s ms, second %5s ms\n' "$round" "${times[1]}" "${times[2]}"
done
