#!/usr/bin/env bash
# Install the Debian 12 packages Driftless builds and runs against (as root).
#
# Swift itself is expected at /opt/swift or on PATH. Everything else comes from Debian:
# libgit2 and libvirt headers, libvirtd with QEMU, Open vSwitch, qemu-img and genisoimage; prlimit
# (util-linux) limits qemu-img on untrusted images, the system's CA bundle verifies https image URLs,
# sshd and ssh-keygen serve the ssh remote of the git credential tests,
# openssl makes the self-signed certificate of a download test, chromium with chromium-driver
# (WebDriver) runs the dashboard's end-to-end test headless, mmdebstrap, extlinux, fdisk and e2fsprogs
# build the guest image (scripts/build-guest-image.sh), and iproute2, ethtool and iputils-ping make and
# probe the physical network the guests are reached on (scripts/physnet.sh), prometheus brings promtool,
# which checks the daemon's /metrics in a test, and gnutls-bin's certtool makes the test bed's TLS
# certificates (scripts/testbed.sh; util-linux's unshare and nsenter make and enter its namespaces);
# ovn-central (the Northbound schema, ovsdb-server's databases, ovn-northd, ovn-nbctl) and ovn-host
# (ovn-controller) are the OVN network backend.
set -euo pipefail

PACKAGES=(
    git pkg-config python3
    libgit2-dev libsqlite3-dev
    libvirt-dev libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients
    qemu-system-x86 qemu-utils
    openvswitch-switch ovn-central ovn-host
    genisoimage
    util-linux ca-certificates openssl
    openssh-server openssh-client
    chromium chromium-driver
    mmdebstrap extlinux syslinux-common fdisk e2fsprogs mount
    iproute2 ethtool iputils-ping
    prometheus
    gnutls-bin
)

missing=()
for package in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done

if [ "${#missing[@]}" -gt 0 ]; then
    echo "install-deps: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v swift >/dev/null 2>&1 && [ ! -x /opt/swift/usr/bin/swift ]; then
    echo "install-deps: Swift 6 is needed (expected /opt/swift/usr/bin/swift or swift on PATH)" >&2
    exit 1
fi
