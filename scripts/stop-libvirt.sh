#!/usr/bin/env bash
# Stop libvirtd and virtlogd started by start-libvirt.sh. Idempotent: stopping daemons
# that are not running succeeds. Running guests (QEMU processes) are left alone, as
# with a systemd stop of libvirtd; libvirtd reconnects to them when it starts again.
set -euo pipefail

WAIT_SECONDS="${LIBVIRT_STOP_TIMEOUT:-15}"
log() { printf 'stop-libvirt: %s\n' "$*" >&2; }

source "$(dirname "${BASH_SOURCE[0]}")/daemons.sh"

stop() { # stop PIDFILE NAME
    local pid=""
    if [ -s "$1" ]; then pid="$(cat "$1" 2>/dev/null || true)"; fi
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
    elif alive "$2"; then
        kill -TERM $(pids_of "$2") 2>/dev/null || true
    else
        log "$2 not running"
        rm -f "$1"
        return 0
    fi
    local deadline=$((SECONDS + WAIT_SECONDS))
    while alive "$2"; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            log "$2 did not exit after SIGTERM; sending SIGKILL"
            kill -KILL $(pids_of "$2") 2>/dev/null || true
            sleep 0.2
            break
        fi
        sleep 0.1
    done
    rm -f "$1"
    log "$2 stopped"
}

stop /var/run/libvirtd.pid libvirtd
stop /var/run/virtlogd.pid virtlogd
