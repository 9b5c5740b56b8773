#!/usr/bin/env bash
# Start ovsdb-server and ovs-vswitchd without systemd (Debian 12, as root).
#
# Idempotent: a daemon that already runs is left alone. Waits until
# `ovs-vsctl show` answers. ovs-vswitchd runs without the kernel module as
# long as every bridge uses datapath_type=netdev.
set -euo pipefail

RUN_DIR=/var/run/openvswitch
DB_FILE=/etc/openvswitch/conf.db
SCHEMA=/usr/share/openvswitch/vswitch.ovsschema
LOG_DIR=/var/log/openvswitch
DB_SOCK="$RUN_DIR/db.sock"

if [ "$(id -u)" -ne 0 ]; then
    echo "start-ovs.sh: must run as root" >&2
    exit 1
fi

if ! command -v ovsdb-server >/dev/null 2>&1 || ! command -v ovs-vswitchd >/dev/null 2>&1; then
    echo "start-ovs.sh: installing openvswitch-switch" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq openvswitch-switch >/dev/null
fi

mkdir -p "$RUN_DIR" "$LOG_DIR" "$(dirname "$DB_FILE")"

# The daemons must not inherit the caller's descriptors: a caller that waits
# for its pipes to close (a test harness, CI) would otherwise wait forever.
# Descriptor 255 is the one bash reads this script from.
for fd_path in /proc/$$/fd/*; do
    fd="${fd_path##*/}"
    if [ "$fd" -gt 2 ] && [ "$fd" -ne 255 ]; then
        eval "exec $fd>&-" 2>/dev/null || true
    fi
done

# True when the daemon named $1 has a pidfile whose process is alive.
running() {
    local pidfile="$RUN_DIR/$1.pid"
    [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile" 2>/dev/null)" 2>/dev/null
}

if [ ! -f "$DB_FILE" ]; then
    ovsdb-tool create "$DB_FILE" "$SCHEMA"
elif [ "$(ovsdb-tool needs-conversion "$DB_FILE" "$SCHEMA" 2>/dev/null || echo no)" = "yes" ] && ! running ovsdb-server; then
    ovsdb-tool convert "$DB_FILE" "$SCHEMA"
fi

if ! running ovsdb-server; then
    rm -f "$DB_SOCK"
    ovsdb-server "$DB_FILE" \
        --detach --pidfile --no-chdir \
        --remote=punix:"$DB_SOCK" \
        --remote=db:Open_vSwitch,Open_vSwitch,manager_options \
        --log-file="$LOG_DIR/ovsdb-server.log" </dev/null
fi

# Wait for the database socket before talking to it.
for _ in $(seq 1 100); do
    [ -S "$DB_SOCK" ] && break
    sleep 0.1
done
ovs-vsctl --timeout=10 --no-wait init

if ! running ovs-vswitchd; then
    ovs-vswitchd --detach --pidfile --no-chdir \
        --log-file="$LOG_DIR/ovs-vswitchd.log" "unix:$DB_SOCK" </dev/null
fi

for _ in $(seq 1 100); do
    if ovs-vsctl --timeout=2 show >/dev/null 2>&1; then
        echo "start-ovs.sh: ovsdb-server and ovs-vswitchd are up ($DB_SOCK)"
        exit 0
    fi
    sleep 0.1
done
echo "start-ovs.sh: ovs-vsctl show did not answer within 10s" >&2
exit 1
