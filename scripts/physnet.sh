#!/usr/bin/env bash
# A "physical network" on this machine, for the demo and the tests: what a Host's physicalNetworks
# interface leads to in a real data centre (a switch carrying the provider VLANs, and a router holding
# each VLAN's gateway address).
#
#   scripts/physnet.sh up IFACE NETNS VLAN=GATEWAY/PREFIX...   e.g. up dl-phys0 driftless-physnet1 100=10.10.0.1/24
#   scripts/physnet.sh down IFACE NETNS
#
# Makes:
#   IFACE            a veth in the root namespace: the host interface the Host maps (Driftless plugs it
#                    into its integration bridge as a trunk);
#   IFACE-sw         its peer, a trunk port of the switch sw-IFACE (an Open vSwitch bridge, netdev);
#   NETNS            a network namespace playing the router: one interface vlanN per VLAN, holding the
#                    gateway address, reached through an access port (tag=N) of the switch. The kernel
#                    here has no 8021q module, so the namespace cannot take the VLANs on one trunk.
# The namespace does not forward between its VLANs (ip_forward stays 0): each VLAN's gateway answers,
# and nothing routes one provider network into another. Checksum offloads are off on every veth, since
# OVS's userspace datapath reads them with AF_PACKET and would pass on packets with partial checksums.
set -euo pipefail

usage() { echo "usage: $0 up IFACE NETNS VLAN=GATEWAY/PREFIX... | down IFACE NETNS" >&2; exit 2; }
[ $# -ge 3 ] || usage
action="$1" iface="$2" netns="$3"
shift 3
switch="sw-$iface"
[ "${#iface}" -le 10 ] || { echo "physnet: interface name $iface is too long (10 characters at most)" >&2; exit 2; }

offloads_off() { ethtool -K "$@" tx off rx off tso off gso off gro off >/dev/null 2>&1 || true; }

case "$action" in
up)
    [ $# -ge 1 ] || usage
    ip netns list | grep -qw "$netns" || ip netns add "$netns"
    ip -n "$netns" link set lo up
    if ! ip link show "$iface" >/dev/null 2>&1; then
        ip link add "$iface" type veth peer name "$iface-sw"
    fi
    ip link set "$iface" up
    ip link set "$iface-sw" up
    offloads_off "$iface"
    offloads_off "$iface-sw"
    ovs-vsctl --may-exist add-br "$switch" -- set bridge "$switch" datapath_type=netdev
    ip link set "$switch" up 2>/dev/null || true
    ovs-vsctl --may-exist add-port "$switch" "$iface-sw"
    for pair in "$@"; do
        vlan="${pair%%=*}" address="${pair#*=}"
        outside="v$vlan-$iface" inside="g$vlan-$iface"
        if ! ip link show "$outside" >/dev/null 2>&1; then
            ip link add "$outside" type veth peer name "$inside"
            ip link set "$inside" netns "$netns"
            ip -n "$netns" link set "$inside" name "vlan$vlan"
        fi
        ip link set "$outside" up
        offloads_off "$outside"
        ip netns exec "$netns" ethtool -K "vlan$vlan" tx off rx off tso off gso off gro off >/dev/null 2>&1 || true
        ip -n "$netns" address replace "$address" dev "vlan$vlan"
        ip -n "$netns" link set "vlan$vlan" up
        ovs-vsctl --may-exist add-port "$switch" "$outside" -- set port "$outside" tag="$vlan"
        echo "physnet: VLAN $vlan: gateway $address in namespace $netns"
    done
    echo "physnet: $iface leads to switch $switch"
    ;;
down)
    ovs-vsctl --if-exists del-br "$switch"
    for link in $(ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | grep -E "^(v[0-9]+-)?$iface(-sw)?$" || true); do
        ip link del "$link" 2>/dev/null || true
    done
    ip netns del "$netns" 2>/dev/null || true
    echo "physnet: removed $iface, $switch and namespace $netns"
    ;;
*) usage ;;
esac
