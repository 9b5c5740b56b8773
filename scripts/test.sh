#!/usr/bin/env bash
# Run the whole test suite on a Debian 12 machine as root: install packages, start libvirtd and
# Open vSwitch (no systemd needed), build, and run every test, integration tests included.
set -euo pipefail
source "$(dirname "$0")/env.sh"

scripts/install-deps.sh
scripts/start-ovs.sh
scripts/start-libvirt.sh
# Three test bed hosts with daemons of their own (the multi-host tests use all three): the tests that stop and restart a libvirtd or an
# ovsdb-server use those, never the machine's, which other tests use at the same time.
scripts/testbed.sh up 3 >/dev/null

swift build --build-tests
# Line-buffered so a CI log shows progress as it happens; bounded so a hang fails instead of
# eating CI's time.
stdbuf -oL -eL timeout --kill-after=30 1800 swift test "$@"
