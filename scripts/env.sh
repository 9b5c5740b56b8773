# Sourced by the other scripts: put Swift on PATH and move to the repository root.
if ! command -v swift >/dev/null 2>&1 && [ -x /opt/swift/usr/bin/swift ]; then
    export PATH="$PATH:/opt/swift/usr/bin"
fi
cd "$(dirname "${BASH_SOURCE[0]}")/.."
