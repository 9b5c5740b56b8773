#!/usr/bin/env bash
# Run the whole test suite on a Debian 12 machine as root: install packages, start libvirtd and
# Open vSwitch (no systemd needed), build, and run every test, integration tests included.
set -euo pipefail
source "$(dirname "$0")/env.sh"

scripts/install-deps.sh
scripts/start-ovs.sh
scripts/start-libvirt.sh

swift build --build-tests
# Line-buffered so a CI log shows progress as it happens; bounded so a hang fails instead of
# eating CI's time.
stdbuf -oL -eL timeout --kill-after=30 1800 swift test "$@"
