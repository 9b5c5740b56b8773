#!/usr/bin/env bash
# A test bed of real hosts on this machine: each host a network namespace plus a mount namespace with
# its own virtlogd, libvirtd (QEMU), ovsdb-server, ovs-vswitchd and sshd, reached from the root
# namespace (the controller) the way a real host is: libvirt over TLS or SSH, OVSDB over SSL or TCP.
#
#   scripts/testbed.sh up N [VLAN=GATEWAY/PREFIX ...]   make hosts tb1..tbN (default VLANs 100=10.10.0.1/24 200=10.20.0.1/24)
#   scripts/testbed.sh down                             remove every host, the switches, the router and the files
#   scripts/testbed.sh status                           what runs where, and the endpoints to put in Host manifests
#   scripts/testbed.sh stop HOST DAEMON                 stop libvirtd | virtlogd | ovsdb-server | ovs-vswitchd | ovn-controller | sshd on HOST
#                                                       (HOST central: ovn-nb | ovn-sb | ovn-northd)
#   scripts/testbed.sh start HOST [DAEMON]              start it (or every daemon of HOST that is not running)
#   scripts/testbed.sh exec HOST COMMAND...             run a command inside HOST (its network and mount namespaces)
#
# Layout (docs/testbed.md):
#   dl-tb-mgmt   a Linux bridge in the root namespace, 10.77.0.1/24: the management network. Host tbK is
#                10.77.0.(10+K) on its interface mgmt0.
#   dl-tb-router a network namespace (with a mount namespace and its own ovsdb-server and ovs-vswitchd)
#                playing the data centre's network: the "physical" switch sw (an Open vSwitch bridge,
#                netdev) carrying the provider VLANs between hosts, each host's phys0 a trunk port of it
#                (what a Host maps in physicalNetworks), and each VLAN's gateway address on vlanN behind
#                an access port; it does not forward between VLANs. (This kernel has neither 8021q nor
#                VLAN filtering in its bridges, so the switch is Open vSwitch.)
#   dl-tb-tun    a Linux bridge in the root namespace: the tunnel network. Host tbK is 10.78.0.(10+K) on
#                br-tun, an Open vSwitch bridge (netdev) holding its interface tun0 (the userspace datapath
#                sends Geneve only from an address on an OVS bridge): OVN's encap IP.
#   central      OVN's central services in the root namespace (the controller): the Northbound and
#                Southbound databases (ovsdb-server, tcp:10.77.0.1:6641 and tcp:10.77.0.1:6642) and
#                ovn-northd; each host runs ovn-controller, idle until Driftless makes the host a chassis
#                (its integration bridge preset to br-ovn, so it never takes the VLAN networks' bridge).
#   files        /var/lib/driftless-testbed: per host its private /run/libvirt, /var/lib/libvirt,
#                /var/cache/libvirt, /var/log/libvirt, /etc/libvirt, /etc/pki, /run/openvswitch,
#                /etc/openvswitch, /var/log/openvswitch and /var/lib/driftless/pools (bind mounts inside
#                the host's mount namespace), and the controller's credentials: pki/ (CA, client
#                certificate and key: libvirt's pkipath and OVSDB's SSL files) and ssh/ (key, known_hosts).
# Inside each host libvirt puts no domain into cgroups (cgroup_controllers = []): the hosts share this
# machine's cgroup tree, where two daemons' "qemu-1-NAME" scopes would collide.
set -euo pipefail

TB=/var/lib/driftless-testbed
MGMT=dl-tb-mgmt
SWITCH=sw
ROUTER=dl-tb-router
MGMT_PREFIX=10.77.0
TUN=dl-tb-tun
TUN_PREFIX=10.78.0
CENTRAL="$TB/central"
WAIT_SECONDS="${TESTBED_WAIT_SECONDS:-30}"

source "$(dirname "${BASH_SOURCE[0]}")/daemons.sh"
export PATH="/usr/sbin:/sbin:$PATH"

log() { printf 'testbed: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

[ "$(id -u)" -eq 0 ] || die "must run as root (it makes namespaces and starts daemons)"

offloads_off() { ethtool -K "$@" tx off rx off tso off gso off gro off >/dev/null 2>&1 || true; }

host_index() { # host_index tbK -> K
    case "$1" in tb[0-9]*) echo "${1#tb}" ;; *) die "unknown host $1 (hosts are tb1, tb2, …)" ;; esac
}
netns_of() { # netns_of NODE -> its network namespace
    case "$1" in router) echo "$ROUTER" ;; *) echo "dl-$1" ;; esac
}
host_ip() { echo "$MGMT_PREFIX.$((10 + $(host_index "$1")))"; }
tunnel_ip() { echo "$TUN_PREFIX.$((10 + $(host_index "$1")))"; }
holder() { # holder HOST -> pid of the process that keeps HOST's namespaces
    local pid
    pid="$(cat "$TB/$1/holder.pid" 2>/dev/null || true)"
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || die "host $1 is not up (scripts/testbed.sh up N)"
    echo "$pid"
}
inside() { # inside HOST COMMAND... : run in HOST's network and mount namespaces
    local host="$1"
    shift
    nsenter -t "$(holder "$host")" -m -n -- "$@"
}
# Starts a daemon inside HOST with every inherited descriptor but 0-2 closed (a test harness reading
# our output must not wait for the daemon), its output appended to LOG.
launch() { # launch HOST LOG COMMAND...
    local host="$1" logfile="$2"
    shift 2
    (
        for fd in /proc/"$BASHPID"/fd/*; do
            fd="${fd##*/}"
            if [ "$fd" -gt 2 ]; then eval "exec $fd>&-"; fi
        done
        exec nsenter -t "$(holder "$host")" -m -n -- "$@" </dev/null >>"$logfile" 2>&1
    )
}
wait_for() { # wait_for WHAT COMMAND...
    local what="$1" deadline=$((SECONDS + WAIT_SECONDS))
    shift
    until "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -ge "$deadline" ] && die "$what did not come up within ${WAIT_SECONDS}s"
        sleep 0.1
    done
}
daemon_running() { [ -n "$(daemon_pid "$1" "$2")" ]; } # daemon_running HOST DAEMON
# The pid in a daemon's pid file (seen from the root namespace), if it runs.
daemon_pid() { # daemon_pid HOST DAEMON
    local file pid
    case "$2" in
        libvirtd) file="$TB/$1/run-libvirt/libvirtd.pid" ;;
        virtlogd) file="$TB/$1/run-libvirt/virtlogd.pid" ;;
        ovsdb-server|ovs-vswitchd|ovn-controller) file="$TB/$1/run-openvswitch/$2.pid" ;;
        sshd) file="$TB/$1/sshd.pid" ;;
        ovn-nb|ovn-sb|ovn-northd) file="$CENTRAL/$2.pid" ;;
        *) die "unknown daemon $2 (libvirtd, virtlogd, ovsdb-server, ovs-vswitchd, ovn-controller, sshd; central: ovn-nb, ovn-sb, ovn-northd)" ;;
    esac
    pid="$(cat "$file" 2>/dev/null || true)"
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        case "$(ps -o stat= -p "$pid" 2>/dev/null)" in Z*|"") ;; *) echo "$pid" ;; esac
    fi
}

# MARK: - Certificates and keys

make_credentials() {
    local pki="$TB/pki"
    [ -s "$pki/cacert.pem" ] && return 0
    command -v certtool >/dev/null || die "certtool is missing: apt-get install -y gnutls-bin"
    mkdir -p "$pki" "$TB/ssh"
    chmod 0700 "$pki" "$TB/ssh"
    certtool --generate-privkey --outfile "$pki/cakey.pem" 2>/dev/null
    printf 'cn = Driftless test bed CA\nca\ncert_signing_key\nexpiration_days = 3650\n' >"$pki/ca.info"
    certtool --generate-self-signed --load-privkey "$pki/cakey.pem" --template "$pki/ca.info" \
        --outfile "$pki/cacert.pem" 2>/dev/null
    certtool --generate-privkey --outfile "$pki/clientkey.pem" 2>/dev/null
    printf 'cn = driftless-controller\ntls_www_client\nencryption_key\nsigning_key\nexpiration_days = 3650\n' >"$pki/client.info"
    certtool --generate-certificate --load-privkey "$pki/clientkey.pem" --load-ca-certificate "$pki/cacert.pem" \
        --load-ca-privkey "$pki/cakey.pem" --template "$pki/client.info" --outfile "$pki/clientcert.pem" 2>/dev/null
    ssh-keygen -q -t ed25519 -N "" -C driftless-controller -f "$TB/ssh/id_ed25519"
    : >"$TB/ssh/known_hosts"
    log "credentials: CA and client certificate in $pki, SSH key in $TB/ssh"
}

make_server_certificate() { # make_server_certificate HOST
    local host="$1" dir="$TB/$1/pki" ip
    ip="$(host_ip "$host")"
    [ -s "$dir/libvirt/servercert.pem" ] && return 0
    mkdir -p "$dir/CA" "$dir/libvirt/private"
    certtool --generate-privkey --outfile "$dir/libvirt/private/serverkey.pem" 2>/dev/null
    printf 'cn = %s\ndns_name = %s\nip_address = %s\ntls_www_server\nencryption_key\nsigning_key\nexpiration_days = 3650\n' \
        "$host" "$host" "$ip" >"$dir/server.info"
    certtool --generate-certificate --load-privkey "$dir/libvirt/private/serverkey.pem" \
        --load-ca-certificate "$TB/pki/cacert.pem" --load-ca-privkey "$TB/pki/cakey.pem" \
        --template "$dir/server.info" --outfile "$dir/libvirt/servercert.pem" 2>/dev/null
    cp "$TB/pki/cacert.pem" "$dir/CA/cacert.pem"
    ssh-keygen -q -t ed25519 -N "" -C "$host" -f "$dir/ssh_host_ed25519_key"
    sed -i "/^$ip /d" "$TB/ssh/known_hosts"
    echo "$ip $(cut -d' ' -f1,2 "$dir/ssh_host_ed25519_key.pub")" >>"$TB/ssh/known_hosts"
}

# MARK: - Networks

# The router's private directories (its own Open vSwitch).
ROUTER_BINDS=(
    "run-openvswitch:/run/openvswitch"
    "etc-openvswitch:/etc/openvswitch"
    "log-openvswitch:/var/log/openvswitch"
)

make_switches() { # make_switches VLAN=GW/PREFIX...
    if ! ip link show "$MGMT" >/dev/null 2>&1; then
        ip link add "$MGMT" type bridge
        ip address add "$MGMT_PREFIX.1/24" dev "$MGMT"
    fi
    ip link set "$MGMT" up
    local dir="$TB/router" pair
    mkdir -p "$dir"
    for pair in "${ROUTER_BINDS[@]}"; do mkdir -p "$dir/${pair%%:*}"; done
    [ -s "$dir/etc-openvswitch/conf.db" ] || ovsdb-tool create "$dir/etc-openvswitch/conf.db" /usr/share/openvswitch/vswitch.ovsschema
    ip netns list | grep -qw "$ROUTER" || ip netns add "$ROUTER"
    ip -n "$ROUTER" link set lo up
    make_namespaces router "${ROUTER_BINDS[@]}"
    start_daemon router ovsdb-server
    start_daemon router ovs-vswitchd
    inside router ovs-vsctl --may-exist add-br "$SWITCH" -- set bridge "$SWITCH" datapath_type=netdev
    ip -n "$ROUTER" link set "$SWITCH" up 2>/dev/null || true
    : >"$TB/vlans"
    local vlan address
    for pair in "$@"; do
        vlan="${pair%%=*}" address="${pair#*=}"
        if ! ip -n "$ROUTER" link show "sw-v$vlan" >/dev/null 2>&1; then
            ip -n "$ROUTER" link add "sw-v$vlan" type veth peer name "vlan$vlan"
        fi
        ip -n "$ROUTER" link set "sw-v$vlan" up
        ip netns exec "$ROUTER" ethtool -K "sw-v$vlan" tx off rx off tso off gso off gro off >/dev/null 2>&1 || true
        ip netns exec "$ROUTER" ethtool -K "vlan$vlan" tx off rx off tso off gso off gro off >/dev/null 2>&1 || true
        inside router ovs-vsctl --may-exist add-port "$SWITCH" "sw-v$vlan" -- set port "sw-v$vlan" tag="$vlan"
        ip -n "$ROUTER" address replace "$address" dev "vlan$vlan"
        ip -n "$ROUTER" link set "vlan$vlan" up
        echo "$vlan $address" >>"$TB/vlans"
    done
}

plug_host() { # plug_host HOST
    local host="$1" k
    k="$(host_index "$host")"
    if ! ip link show "tb$k-m" >/dev/null 2>&1; then
        ip link add "tb$k-m" type veth peer name "tb$k-mi"
        ip link set "tb$k-mi" netns "dl-$host"
        ip -n "dl-$host" link set "tb$k-mi" name mgmt0
    fi
    ip link set "tb$k-m" master "$MGMT" up
    ip -n "dl-$host" address replace "$(host_ip "$host")/24" dev mgmt0
    ip -n "dl-$host" link set mgmt0 up
    ip -n "dl-$host" link set lo up
    if ! ip -n "$ROUTER" link show "tb$k-p" >/dev/null 2>&1; then
        ip -n "$ROUTER" link add "tb$k-p" type veth peer name "tb$k-pi"
        ip -n "$ROUTER" link set "tb$k-pi" netns "dl-$host"
        ip -n "dl-$host" link set "tb$k-pi" name phys0
    fi
    ip -n "$ROUTER" link set "tb$k-p" up
    ip netns exec "$ROUTER" ethtool -K "tb$k-p" tx off rx off tso off gso off gro off >/dev/null 2>&1 || true
    inside router ovs-vsctl --may-exist add-port "$SWITCH" "tb$k-p"
    ip -n "dl-$host" link set phys0 up
    offloads_off "tb$k-m"
    ip netns exec "dl-$host" ethtool -K phys0 tx off rx off tso off gso off gro off >/dev/null 2>&1 || true
    ip netns exec "dl-$host" ethtool -K mgmt0 tx off rx off tso off gso off gro off >/dev/null 2>&1 || true
}

# MARK: - Hosts

# The directories bound over the host's own view of the system paths (source under $TB/HOST).
BINDS=(
    "run-libvirt:/run/libvirt"
    "lib-libvirt:/var/lib/libvirt"
    "cache-libvirt:/var/cache/libvirt"
    "log-libvirt:/var/log/libvirt"
    "etc-libvirt:/etc/libvirt"
    "pki:/etc/pki"
    "run-openvswitch:/run/openvswitch"
    "etc-openvswitch:/etc/openvswitch"
    "log-openvswitch:/var/log/openvswitch"
    "pools:/var/lib/driftless/pools"
)

make_host() { # make_host HOST
    local host="$1" dir="$TB/$1" pair
    mkdir -p "$dir"
    for pair in "${BINDS[@]}"; do
        mkdir -p "$dir/${pair%%:*}" "${pair#*:}"
    done
    if [ ! -e "$dir/etc-libvirt/libvirtd.conf" ]; then
        cp -a /etc/libvirt/. "$dir/etc-libvirt/"
        # The machine's configuration, not its domains, pools or autostarted networks: a host starts empty.
        rm -f "$dir/etc-libvirt/qemu/networks/autostart/"*.xml "$dir/etc-libvirt/qemu/"*.xml \
            "$dir/etc-libvirt/qemu/autostart/"*.xml "$dir/etc-libvirt/storage/"*.xml "$dir/etc-libvirt/storage/autostart/"*.xml
        cat >>"$dir/etc-libvirt/libvirtd.conf" <<EOF

# Driftless test bed host $host
listen_tls = 1
listen_tcp = 0
listen_addr = "$(host_ip "$host")"
key_file = "/etc/pki/libvirt/private/serverkey.pem"
cert_file = "/etc/pki/libvirt/servercert.pem"
ca_file = "/etc/pki/CA/cacert.pem"
tls_allowed_dn_list = ["CN=driftless-controller"]
EOF
        printf '\n# Driftless test bed: the hosts share one cgroup tree\ncgroup_controllers = [ ]\n' >>"$dir/etc-libvirt/qemu.conf"
    fi
    make_server_certificate "$host"
    if [ ! -s "$dir/etc-openvswitch/conf.db" ]; then
        ovsdb-tool create "$dir/etc-openvswitch/conf.db" /usr/share/openvswitch/vswitch.ovsschema
    fi
    ip netns list | grep -qw "dl-$host" || ip netns add "dl-$host"
    plug_host "$host"
    make_namespaces "$host" "${BINDS[@]}"
    start_daemons "$host"
    plug_tunnel "$host"
}

# Starts the process that holds NODE's mount namespace (inside its network namespace), the BINDS
# mounted over the system paths; `inside NODE` enters both.
make_namespaces() { # make_namespaces NODE BIND...
    local node="$1" dir="$TB/$1" pid pair mounts=""
    shift
    pid="$(cat "$dir/holder.pid" 2>/dev/null || true)"
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then return 0; fi
    for pair in "$@"; do
        mkdir -p "${pair#*:}"
        mounts+="mount --bind $dir/${pair%%:*} ${pair#*:} && "
    done
    (
        for fd in /proc/"$BASHPID"/fd/*; do
            fd="${fd##*/}"
            if [ "$fd" -gt 2 ]; then eval "exec $fd>&-"; fi
        done
        exec setsid ip netns exec "$(netns_of "$node")" unshare --mount --propagation private -- \
            bash -c "${mounts}echo ready >$dir/holder.ready && exec sleep infinity" </dev/null >>"$dir/holder.log" 2>&1
    ) &
    echo $! >"$dir/holder.pid"
    wait_for "the namespaces of $node" test -e "$dir/holder.ready"
    rm -f "$dir/holder.ready"
}

start_daemon() { # start_daemon HOST DAEMON
    local host="$1" daemon="$2" dir="$TB/$1" ip="" remotes=()
    if [ "$host" = central ]; then start_central "$daemon"; return 0; fi
    if [ "$host" != router ]; then
        ip="$(host_ip "$host")"
        remotes=(--remote="ptcp:6641:$ip" --remote="pssl:6640:$ip" --private-key=/etc/pki/libvirt/private/serverkey.pem
                 --certificate=/etc/pki/libvirt/servercert.pem --ca-cert=/etc/pki/CA/cacert.pem)
    fi
    if [ -n "$(daemon_pid "$host" "$daemon")" ]; then return 0; fi
    case "$daemon" in
        virtlogd)
            rm -f "$dir/run-libvirt/virtlogd.pid"
            launch "$host" "$dir/log-libvirt/virtlogd.out" virtlogd -d --pid-file /run/libvirt/virtlogd.pid
            wait_for "virtlogd on $host" test -S "$dir/run-libvirt/virtlogd-sock"
            ;;
        libvirtd)
            start_daemon "$host" virtlogd
            rm -f "$dir/run-libvirt/libvirtd.pid"
            launch "$host" "$dir/log-libvirt/libvirtd.out" libvirtd -d --listen --pid-file /run/libvirt/libvirtd.pid
            wait_for "libvirtd on $host" inside "$host" virsh -q -c qemu:///system version
            ;;
        ovsdb-server)
            rm -f "$dir/run-openvswitch/db.sock"
            launch "$host" "$dir/log-openvswitch/ovsdb-server.out" ovsdb-server /etc/openvswitch/conf.db \
                --detach --pidfile --no-chdir --log-file=/var/log/openvswitch/ovsdb-server.log \
                --remote=punix:/run/openvswitch/db.sock --remote=db:Open_vSwitch,Open_vSwitch,manager_options \
                "${remotes[@]}"
            wait_for "ovsdb-server on $host" test -S "$dir/run-openvswitch/db.sock"
            inside "$host" ovs-vsctl --timeout=10 --no-wait init
            inside "$host" ovs-vsctl --timeout=10 --no-wait set Open_vSwitch . external_ids:hostname="$host" external_ids:system-id="$host"
            ;;
        ovs-vswitchd)
            start_daemon "$host" ovsdb-server
            launch "$host" "$dir/log-openvswitch/ovs-vswitchd.out" ovs-vswitchd --detach --pidfile --no-chdir \
                --log-file=/var/log/openvswitch/ovs-vswitchd.log unix:/run/openvswitch/db.sock
            wait_for "ovs-vswitchd on $host" inside "$host" ovs-vsctl --timeout=2 show
            ;;
        ovn-controller)
            start_daemon "$host" ovs-vswitchd
            # Until Driftless makes the host a chassis, keep ovn-controller off the VLAN networks' br-int.
            if [ -z "$(inside "$host" ovs-vsctl --timeout=10 --if-exists get Open_vSwitch . external_ids:ovn-bridge)" ]; then
                inside "$host" ovs-vsctl --timeout=10 --no-wait set Open_vSwitch . external_ids:ovn-bridge=br-ovn \
                    external_ids:ovn-bridge-datapath-type=netdev
            fi
            rm -f "$dir/run-openvswitch/ovn-controller.pid"
            # Its control socket goes to OVN_RUNDIR: the host's own /run/openvswitch.
            launch "$host" "$dir/log-openvswitch/ovn-controller.out" env OVN_RUNDIR=/run/openvswitch \
                ovn-controller unix:/run/openvswitch/db.sock --detach --pidfile=/run/openvswitch/ovn-controller.pid \
                --no-chdir --log-file=/var/log/openvswitch/ovn-controller.log
            wait_for "ovn-controller on $host" daemon_running "$host" ovn-controller
            ;;
        sshd)
            mkdir -p /run/sshd
            cat >"$dir/sshd_config" <<EOF
ListenAddress $ip
HostKey $dir/pki/ssh_host_ed25519_key
PidFile $dir/sshd.pid
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
AuthorizedKeysFile $dir/authorized_keys
StrictModes no
UsePAM no
EOF
            cp "$TB/ssh/id_ed25519.pub" "$dir/authorized_keys"
            launch "$host" "$dir/sshd.out" /usr/sbin/sshd -f "$dir/sshd_config"
            wait_for "sshd on $host" test -s "$dir/sshd.pid"
            ;;
        *) die "unknown daemon $daemon" ;;
    esac
}

start_daemons() { # start_daemons HOST
    local daemon
    if [ "$1" = central ]; then
        for daemon in ovn-nb ovn-sb ovn-northd; do start_central "$daemon"; done
        return 0
    fi
    for daemon in virtlogd libvirtd ovsdb-server ovs-vswitchd ovn-controller sshd; do start_daemon "$1" "$daemon"; done
}

# MARK: - OVN's central services (in the root namespace)

start_central() { # start_central ovn-nb | ovn-sb | ovn-northd
    local daemon="$1" db port schema
    mkdir -p "$CENTRAL"
    if [ -n "$(daemon_pid central "$daemon")" ]; then return 0; fi
    case "$daemon" in
        ovn-nb|ovn-sb)
            db="${daemon#ovn-}" port=6641 schema=/usr/share/ovn/ovn-nb.ovsschema
            [ "$db" = sb ] && port=6642 schema=/usr/share/ovn/ovn-sb.ovsschema
            [ -s "$CENTRAL/$db.db" ] || ovsdb-tool create "$CENTRAL/$db.db" "$schema"
            rm -f "$CENTRAL/$db.sock"
            ovsdb-server "$CENTRAL/$db.db" --detach --pidfile="$CENTRAL/$daemon.pid" --no-chdir \
                --log-file="$CENTRAL/$daemon.log" --unixctl="$CENTRAL/$daemon.ctl" \
                --remote="punix:$CENTRAL/$db.sock" --remote="ptcp:$port:$MGMT_PREFIX.1" </dev/null >>"$CENTRAL/$daemon.out" 2>&1
            wait_for "the ${db^^} database" test -S "$CENTRAL/$db.sock"
            ;;
        ovn-northd)
            start_central ovn-nb
            start_central ovn-sb
            ovn-northd --ovnnb-db="unix:$CENTRAL/nb.sock" --ovnsb-db="unix:$CENTRAL/sb.sock" --detach \
                --pidfile="$CENTRAL/ovn-northd.pid" --no-chdir --log-file="$CENTRAL/ovn-northd.log" \
                --unixctl="$CENTRAL/ovn-northd.ctl" </dev/null >>"$CENTRAL/ovn-northd.out" 2>&1
            wait_for "ovn-northd" test -S "$CENTRAL/ovn-northd.ctl"
            ;;
        *) die "unknown central daemon $daemon (ovn-nb, ovn-sb, ovn-northd)" ;;
    esac
}

# The tunnel network: tun0 in HOST, on its br-tun (netdev) with the host's tunnel address.
plug_tunnel() { # plug_tunnel HOST
    local host="$1" k
    k="$(host_index "$host")"
    if ! ip link show "$TUN" >/dev/null 2>&1; then ip link add "$TUN" type bridge; fi
    ip link set "$TUN" up
    if ! ip link show "tb$k-t" >/dev/null 2>&1; then
        ip link add "tb$k-t" type veth peer name "tb$k-ti"
        ip link set "tb$k-ti" netns "dl-$host"
        ip -n "dl-$host" link set "tb$k-ti" name tun0
    fi
    ip link set "tb$k-t" master "$TUN" up
    offloads_off "tb$k-t"
    ip netns exec "dl-$host" ethtool -K tun0 tx off rx off tso off gso off gro off >/dev/null 2>&1 || true
    ip -n "dl-$host" link set tun0 up
    inside "$host" ovs-vsctl --timeout=10 --may-exist add-br br-tun -- set bridge br-tun datapath_type=netdev \
        -- --may-exist add-port br-tun tun0
    wait_for "br-tun on $host" ip -n "dl-$host" link show br-tun
    ip -n "dl-$host" address replace "$(tunnel_ip "$host")/24" dev br-tun
    ip -n "dl-$host" link set br-tun up
}

stop_daemon() { # stop_daemon HOST DAEMON
    local host="$1" daemon="$2" pid deadline
    pid="$(daemon_pid "$host" "$daemon")"
    [ -n "$pid" ] || { log "$daemon is not running on $host"; return 0; }
    kill -TERM "$pid"
    deadline=$((SECONDS + 15))
    while kill -0 "$pid" 2>/dev/null; do
        case "$(ps -o stat= -p "$pid" 2>/dev/null)" in Z*|"") break ;; esac
        if [ "$SECONDS" -ge "$deadline" ]; then kill -KILL "$pid" 2>/dev/null || true; break; fi
        sleep 0.1
    done
    log "$daemon stopped on $host"
}

hosts() { # the hosts that exist
    local dir
    for dir in "$TB"/tb*; do [ -d "$dir" ] && basename "$dir"; done | sort -V
}

# Every process in HOST's mount namespace (its daemons and their QEMU guests).
host_processes() { # host_processes HOST
    local ns pid
    pid="$(cat "$TB/$1/holder.pid" 2>/dev/null || true)"
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
    ns="$(readlink "/proc/$pid/ns/mnt")"
    for pid in $(ls /proc | grep -E '^[0-9]+$'); do
        if [ "$(readlink "/proc/$pid/ns/mnt" 2>/dev/null)" = "$ns" ]; then echo "$pid"; fi
    done
    return 0
}

remove_host() { # remove_host HOST
    local host="$1" k pids
    k="$(host_index "$host")"
    pids="$(host_processes "$host" | tr '\n' ' ')"
    [ -n "$pids" ] && kill -KILL $pids 2>/dev/null || true
    ip netns del "dl-$host" 2>/dev/null || true
    ip link del "tb$k-m" 2>/dev/null || true
    ip -n "$ROUTER" link del "tb$k-p" 2>/dev/null || true
    ip link del "tb$k-t" 2>/dev/null || true
    rm -rf "${TB:?}/$host"
    log "host $host removed"
}

status() {
    local host ip daemon pid
    for host in $(hosts); do
        ip="$(host_ip "$host")"
        printf '%s  %s\n' "$host" "$ip"
        for daemon in virtlogd libvirtd ovsdb-server ovs-vswitchd ovn-controller sshd; do
            pid="$(daemon_pid "$host" "$daemon")"
            if [ -n "$pid" ]; then printf '    %-15s running (pid %s)\n' "$daemon" "$pid"; else printf '    %-15s stopped\n' "$daemon"; fi
        done
        printf '    libvirt       qemu+tls://%s/system   qemu+ssh://root@%s/system   qemu+unix:///system?socket=%s\n' \
            "$ip" "$ip" "$TB/$host/run-libvirt/libvirt-sock"
        printf '    ovsdb         ssl:%s:6640   tcp:%s:6641   unix:%s\n' "$ip" "$ip" "$TB/$host/run-openvswitch/db.sock"
        printf '    physical      phys0 (a trunk port of switch %s in %s: VLANs %s)\n' "$SWITCH" "$ROUTER" "$(cut -d' ' -f1 "$TB/vlans" | paste -sd, -)"
        printf '    tunnel        %s on br-tun (OVN encap IP)\n' "$(tunnel_ip "$host")"
    done
    for daemon in ovn-nb ovn-sb ovn-northd; do
        pid="$(daemon_pid central "$daemon")"
        if [ -n "$pid" ]; then printf 'central %-12s running (pid %s)\n' "$daemon" "$pid"; else printf 'central %-12s stopped\n' "$daemon"; fi
    done
    printf 'central OVN: Northbound tcp:%s.1:6641 (unix:%s/nb.sock), Southbound tcp:%s.1:6642\n' "$MGMT_PREFIX" "$CENTRAL" "$MGMT_PREFIX"
    printf 'controller credentials: pkipath %s (cacert.pem, clientcert.pem, clientkey.pem); ssh key %s, known_hosts %s\n' \
        "$TB/pki" "$TB/ssh/id_ed25519" "$TB/ssh/known_hosts"
    [ -s "$TB/vlans" ] && while read -r vlan address; do printf 'router %s: VLAN %s gateway %s\n' "$ROUTER" "$vlan" "$address"; done <"$TB/vlans"
    return 0
}

[ $# -ge 1 ] || usage
action="$1"
shift
case "$action" in
    up)
        [ $# -ge 1 ] && [[ "$1" =~ ^[0-9]+$ ]] && [ "$1" -ge 1 ] && [ "$1" -le 9 ] || die "up takes a number of hosts between 1 and 9"
        count="$1"
        shift
        vlans=("$@")
        [ ${#vlans[@]} -gt 0 ] || vlans=(100=10.10.0.1/24 200=10.20.0.1/24)
        for cmd in libvirtd virtlogd ovsdb-server ovs-vswitchd ovn-controller ovn-northd sshd nsenter unshare ethtool bridge; do
            command -v "$cmd" >/dev/null || die "$cmd is missing (scripts/install-deps.sh installs what the test bed needs)"
        done
        mkdir -p "$TB"
        chmod 0700 "$TB"
        make_credentials
        make_switches "${vlans[@]}"
        start_daemons central
        for k in $(seq 1 "$count"); do
            make_host "tb$k"
            log "host tb$k up at $(host_ip "tb$k")"
        done
        status
        ;;
    down)
        for host in $(hosts); do remove_host "$host"; done
        pids="$(host_processes router | tr '\n' ' ')"
        [ -n "$pids" ] && kill -KILL $pids 2>/dev/null || true
        ip netns del "$ROUTER" 2>/dev/null || true
        for daemon in ovn-northd ovn-nb ovn-sb; do
            pid="$(daemon_pid central "$daemon")"
            [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null || true
        done
        ip link del "$MGMT" 2>/dev/null || true
        ip link del "$TUN" 2>/dev/null || true
        rm -rf "$TB"
        log "test bed removed"
        ;;
    status) status ;;
    stop)
        [ $# -eq 2 ] || usage
        [ "$1" = central ] || holder "$1" >/dev/null
        stop_daemon "$1" "$2"
        ;;
    start)
        [ $# -ge 1 ] || usage
        [ "$1" = central ] || holder "$1" >/dev/null
        if [ $# -ge 2 ]; then start_daemon "$1" "$2"; else start_daemons "$1"; fi
        ;;
    exec)
        [ $# -ge 2 ] || usage
        host="$1"
        shift
        inside "$host" "$@"
        ;;
    *) usage ;;
esac
