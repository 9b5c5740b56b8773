#!/usr/bin/env bash
# Stop ovs-vswitchd and ovsdb-server started by start-ovs.sh.
#
# Idempotent: a daemon that is not running is skipped. Pass `ovsdb-server`
# or `ovs-vswitchd` to stop only that one.
set -euo pipefail

RUN_DIR=/var/run/openvswitch

# Ask daemon $1 to exit through its control socket, then wait for its pid.
stop_daemon() {
    local name="$1" pidfile="$RUN_DIR/$1.pid" pid
    [ -f "$pidfile" ] || return 0
    pid="$(cat "$pidfile" 2>/dev/null || true)"
    if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
        rm -f "$pidfile"
        return 0
    fi
    ovs-appctl -t "$name" exit >/dev/null 2>&1 || kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
    echo "stop-ovs.sh: stopped $name"
}

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(ovs-vswitchd ovsdb-server)
fi
for target in "${targets[@]}"; do
    case "$target" in
        ovs-vswitchd|ovsdb-server) stop_daemon "$target" ;;
        *) echo "stop-ovs.sh: unknown daemon '$target'" >&2; exit 2 ;;
    esac
done
