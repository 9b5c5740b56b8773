# Sourced by start-libvirt.sh and stop-libvirt.sh.

# Whether a live (not zombie) process is named $1. Without systemd nothing may reap a
# killed daemon, and pgrep also matches zombies.
alive() { # alive NAME
    local pid
    for pid in $(pgrep -x "$1" 2>/dev/null); do
        case "$(ps -o stat= -p "$pid" 2>/dev/null)" in
            Z*|"") ;;
            *) return 0 ;;
        esac
    done
    return 1
}
