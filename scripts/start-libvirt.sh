#!/usr/bin/env bash
# Start virtlogd and libvirtd on Debian 12 without systemd, as root. Idempotent:
# running it again when the daemons already answer changes nothing.
#
# Packages (installed by CI, not here):
#   apt-get install -y libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients \
#                      qemu-system-x86 qemu-utils libvirt-dev
set -euo pipefail

URI="qemu:///system"
WAIT_SECONDS="${LIBVIRT_START_TIMEOUT:-30}"

log() { printf 'start-libvirt: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (libvirtd manages system domains)"

# 1. The binaries must be there; say which package brings each one.
missing=()
need() { # need BINARY PACKAGE
    if ! command -v "$1" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$1" ]; then missing+=("$2 (for $1)"); fi
}
need libvirtd libvirt-daemon
need virtlogd libvirt-daemon
need virsh libvirt-clients
need qemu-system-x86_64 qemu-system-x86
need qemu-img qemu-utils
[ -e /usr/lib/x86_64-linux-gnu/libvirt/connection-driver/libvirt_driver_qemu.so ] \
    || missing+=("libvirt-daemon-driver-qemu (for the qemu:///system driver)")
if [ "${#missing[@]}" -gt 0 ]; then
    die "missing: ${missing[*]}; install with: apt-get install -y libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients qemu-system-x86 qemu-utils"
fi
export PATH="/usr/sbin:/sbin:$PATH"

# 2. Users and groups that the qemu driver runs guests as (the libvirt-daemon-system
#    package would create them; it is not installed here).
getent group kvm >/dev/null || groupadd -r kvm
getent group libvirt-qemu >/dev/null || groupadd -r libvirt-qemu
getent group libvirt >/dev/null || groupadd -r libvirt
if ! getent passwd libvirt-qemu >/dev/null; then
    useradd -r -g libvirt-qemu -G kvm -d /var/lib/libvirt -s /usr/sbin/nologin libvirt-qemu
fi

# /dev/kvm as Debian's udev rule leaves it (group kvm, mode 0660). There is no udev here, so the
# device stays 0600 root: libvirtd then sees KVM when it probes QEMU as root but not when QEMU runs
# as libvirt-qemu, and re-probes QEMU on every call (one `virsh define` took 59 s).
if [ -c /dev/kvm ]; then
    chgrp kvm /dev/kvm && chmod 0660 /dev/kvm
fi

# 3. Runtime, log and state directories.
mkdir -p /var/run/libvirt /var/log/libvirt /var/lib/libvirt/qemu /var/lib/libvirt/images /var/cache/libvirt

# Start a daemon with only stdin/stdout/stderr: a daemon that inherits any other open
# descriptor of our caller (a pipe, or the socket Foundation's Process uses to notice
# that its child exited) keeps it open forever and makes the caller hang.
launch() { # launch LOGFILE COMMAND...
    local log="$1"
    shift
    (
        for fd in /proc/"$BASHPID"/fd/*; do
            fd="${fd##*/}"
            if [ "$fd" -gt 2 ]; then eval "exec $fd>&-"; fi
        done
        exec "$@" </dev/null >>"$log" 2>&1
    )
}

source "$(dirname "${BASH_SOURCE[0]}")/daemons.sh"

running() { # running PIDFILE NAME
    local pid
    if [ -s "$1" ]; then
        pid="$(cat "$1" 2>/dev/null || true)"
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
            case "$(ps -o stat= -p "$pid" 2>/dev/null)" in Z*|"") ;; *) return 0 ;; esac
        fi
    fi
    alive "$2"
}

# 4. The daemons.
if running /var/run/virtlogd.pid virtlogd; then
    log "virtlogd already running"
else
    rm -f /var/run/virtlogd.pid
    launch /var/log/libvirt/virtlogd.out virtlogd -d
    log "virtlogd started"
fi
# QEMU domains need virtlogd's socket; libvirtd answering does not mean virtlogd listens.
deadline=$((SECONDS + WAIT_SECONDS))
until [ -S /run/libvirt/virtlogd-sock ]; do
    [ "$SECONDS" -ge "$deadline" ] && die "virtlogd did not create /run/libvirt/virtlogd-sock within ${WAIT_SECONDS}s"
    sleep 0.1
done
if running /var/run/libvirtd.pid libvirtd; then
    log "libvirtd already running"
else
    rm -f /var/run/libvirtd.pid
    launch /var/log/libvirt/libvirtd.out libvirtd -d
    log "libvirtd started"
fi

# 5. Wait until the system connection answers.
deadline=$((SECONDS + WAIT_SECONDS))
until virsh -q -c "$URI" version >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then
        virsh -c "$URI" version || true
        die "libvirtd did not answer on $URI within ${WAIT_SECONDS}s (see /var/log/libvirt)"
    fi
    sleep 0.2
done
log "libvirtd answers on $URI"
