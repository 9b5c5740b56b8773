#!/usr/bin/env bash
# The Driftless demo on the bundled example: install what is needed, build, turn examples/lab into a
# git repository and validate it straight from git (then break a manifest to show a precise error).
#
# Later releases grow this into the full loop: plan, apply real VMs, drift.
set -euo pipefail
source "$(dirname "$0")/env.sh"

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

step "Installing Debian packages (libgit2, libvirt, QEMU, Open vSwitch)"
scripts/install-deps.sh

step "Building driftless (release)"
swift build -c release --product driftless 2>&1 | tail -1
DRIFTLESS="$PWD/.build/release/driftless"

WORK="${DRIFTLESS_DEMO_DIR:-/tmp/driftless-demo}"
step "Making a git repository of examples/lab in $WORK/lab"
rm -rf "$WORK"
mkdir -p "$WORK"
cp -r examples/lab "$WORK/lab"
git -C "$WORK/lab" init -q -b main
git -C "$WORK/lab" add -A
git -C "$WORK/lab" -c user.name=Demo -c user.email=demo@example.com commit -q -m "The lab: one host, two projects, three instances"

step "driftless validate --repo $WORK/lab   (read straight from git: no checkout)"
"$DRIFTLESS" validate --repo "$WORK/lab" --state "$WORK/state"

step "Breaking a manifest in a second commit (memory: 2GB, a network typo)"
sed -i '0,/memory: 128MiB/s//memory: 2GB/; s/- network: mgmt/- network: mgmnt/' "$WORK/lab/instances.yaml"
git -C "$WORK/lab" -c user.name=Demo -c user.email=demo@example.com commit -q -am "Break it"
"$DRIFTLESS" validate --repo "$WORK/lab" --state "$WORK/state" || echo "(exit status $?: the commit is refused)"

step "The first commit still validates"
"$DRIFTLESS" validate --repo "$WORK/lab" --rev HEAD~1 --state "$WORK/state"

printf '\nDone. Try: %s validate --repo %s --format json\n' "$DRIFTLESS" "$WORK/lab"
