# Sourced by start-libvirt.sh, stop-libvirt.sh and testbed.sh.

# The live (not zombie) processes named $1 in this mount namespace. Without systemd nothing may reap
# a killed daemon, and pgrep also matches zombies; the test bed's hosts run their own libvirtd in
# mount namespaces of their own, which are not this machine's.
pids_of() { # pids_of NAME
    local pid mine
    mine="$(readlink /proc/self/ns/mnt)"
    for pid in $(pgrep -x "$1" 2>/dev/null); do
        [ "$(readlink "/proc/$pid/ns/mnt" 2>/dev/null)" = "$mine" ] || continue
        case "$(ps -o stat= -p "$pid" 2>/dev/null)" in
            Z*|"") ;;
            *) echo "$pid" ;;
        esac
    done
}

# Whether a live process named $1 runs in this mount namespace.
alive() { # alive NAME
    [ -n "$(pids_of "$1")" ]
}
