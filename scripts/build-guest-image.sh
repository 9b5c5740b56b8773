#!/usr/bin/env bash
# Builds the guest image the demo and the end-to-end tests boot: a bootable qcow2 of Debian 12 with
# Debian's cloud kernel (linux-image-cloud-amd64, the kernel of Debian's genericcloud images), the real
# cloud-init and openssh-server, and extlinux inside the disk as a cloud image has its boot loader.
#
#   scripts/build-guest-image.sh [OUTPUT]     default /var/lib/driftless/images/debian-12-guest.qcow2
#
# Prints the image's path and sha256 last (`path sha256`), and writes OUTPUT.sha256. The image is
# cached by the hash of its recipe (this file): a second run with an unchanged recipe costs nothing.
# Needs root (loop devices, mount, chroot) and the packages mmdebstrap, extlinux, syslinux-common,
# fdisk, e2fsprogs and qemu-utils (scripts/install-deps.sh installs them).
set -euo pipefail

OUTPUT="${1:-/var/lib/driftless/images/debian-12-guest.qcow2}"
RECIPE="$(sha256sum "$0" | cut -d' ' -f1)"
SIZE=2G
PACKAGES=(
    linux-image-cloud-amd64 initramfs-tools systemd-sysv udev kmod dbus
    cloud-init cloud-guest-utils openssh-server sudo
    ifupdown isc-dhcp-client iproute2 iputils-ping netbase procps e2fsprogs ca-certificates
)

say() { printf 'build-guest-image: %s\n' "$*" >&2; }

if [ -f "$OUTPUT" ] && [ -f "$OUTPUT.recipe" ] && [ "$(cat "$OUTPUT.recipe")" = "$RECIPE" ] && [ -f "$OUTPUT.sha256" ]; then
    say "reusing $OUTPUT (recipe ${RECIPE:0:12} unchanged)"
    echo "$OUTPUT $(cat "$OUTPUT.sha256")"
    exit 0
fi

for tool in mmdebstrap extlinux sfdisk mkfs.ext4 qemu-img losetup; do
    command -v "$tool" >/dev/null || { say "missing $tool (run scripts/install-deps.sh)"; exit 1; }
done

WORK="$(mktemp -d /var/tmp/driftless-guest-image.XXXXXX)"
MOUNT="$WORK/root"
LOOP=""
cleanup() {
    set +e
    for sub in dev/pts dev proc sys; do mountpoint -q "$MOUNT/$sub" && umount "$MOUNT/$sub"; done
    mountpoint -q "$MOUNT" && umount "$MOUNT"
    [ -n "$LOOP" ] && losetup -d "$LOOP"
    rm -rf "$WORK"
}
trap cleanup EXIT

started=$SECONDS
say "recipe ${RECIPE:0:12}: building a ${SIZE} Debian 12 disk in $WORK"
RAW="$WORK/disk.raw"
truncate -s "$SIZE" "$RAW"
# One bootable partition from 1 MiB, as cloud images have it; the MBR boot code comes from syslinux.
printf 'label: dos\nstart=2048, type=83, bootable\n' | sfdisk -q "$RAW"
dd if=/usr/lib/syslinux/mbr/mbr.bin of="$RAW" bs=440 count=1 conv=notrunc status=none
# The partition through an offset loop device: no partition device nodes needed (no udev here).
LOOP="$(losetup --show -f -o $((2048 * 512)) "$RAW")"
# extlinux reads ext4 without the 64bit and metadata_csum features.
mkfs.ext4 -q -L root -O ^64bit,^metadata_csum "$LOOP"
ROOT_UUID="$(blkid -s UUID -o value "$LOOP")"
mkdir -p "$MOUNT"
mount "$LOOP" "$MOUNT"
rmdir "$MOUNT/lost+found"

say "installing ${#PACKAGES[@]} packages with mmdebstrap (minbase)"
include="$(IFS=,; echo "${PACKAGES[*]}")"
mmdebstrap --quiet --variant=minbase --include="$include" \
    --customize-hook='chroot "$1" passwd --lock root' \
    bookworm "$MOUNT" >&2

say "configuring boot, cloud-init and ssh"
cat >"$MOUNT/etc/fstab" <<EOF
UUID=$ROOT_UUID / ext4 defaults,errors=remount-ro 0 1
EOF
# The instance's hostname comes from the seed; the image has none of its own.
echo localhost >"$MOUNT/etc/hostname"
# Each guest makes its own machine id and SSH host keys on first boot (cloud-init's ssh module).
: >"$MOUNT/etc/machine-id"
rm -f "$MOUNT"/etc/ssh/ssh_host_*
# The seed is a NoCloud disk labelled cidata; probing other clouds' metadata services only costs time.
cat >"$MOUNT/etc/cloud/cloud.cfg.d/90-driftless.cfg" <<'EOF'
datasource_list: [NoCloud, None]
# The image has no locales package; C.UTF-8 is built into glibc.
locale: C.UTF-8
EOF
cat >"$MOUNT/etc/network/interfaces" <<'EOF'
auto lo
iface lo inet loopback
source /etc/network/interfaces.d/*
EOF
kernel="$(cd "$MOUNT/boot" && ls vmlinuz-* | sort -V | tail -n1)"
initrd="initrd.img-${kernel#vmlinuz-}"
[ -f "$MOUNT/boot/$initrd" ] || { say "no initramfs $initrd was made"; exit 1; }
mkdir -p "$MOUNT/boot/extlinux"
cat >"$MOUNT/boot/extlinux/extlinux.conf" <<EOF
DEFAULT debian
TIMEOUT 1
PROMPT 0
LABEL debian
    LINUX /boot/$kernel
    INITRD /boot/$initrd
    APPEND root=UUID=$ROOT_UUID ro console=tty0 console=ttyS0,115200n8 net.ifnames=0
EOF
extlinux --install "$MOUNT/boot/extlinux" >/dev/null 2>&1
rm -rf "$MOUNT"/var/cache/apt/archives/*.deb "$MOUNT"/var/lib/apt/lists/*
sync
umount "$MOUNT"
losetup -d "$LOOP"
LOOP=""

mkdir -p "$(dirname "$OUTPUT")"
qemu-img convert -O qcow2 "$RAW" "$OUTPUT.partial"
mv "$OUTPUT.partial" "$OUTPUT"
sha256sum "$OUTPUT" | cut -d' ' -f1 >"$OUTPUT.sha256"
echo "$RECIPE" >"$OUTPUT.recipe"
say "built $OUTPUT ($(du -h "$OUTPUT" | cut -f1), kernel $kernel) in $((SECONDS - started)) s"
echo "$OUTPUT $(cat "$OUTPUT.sha256")"
