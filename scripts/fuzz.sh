#!/usr/bin/env bash
# Fuzz the manifest loader with libFuzzer and AddressSanitizer: build Tests/Fuzz (a package of its own,
# over DriftlessCore) into .build-fuzz, then run it from the committed seed corpus.
#
# usage: scripts/fuzz.sh [--time SECONDS] [--build-only] [--replay FILE...] [-- LIBFUZZER_FLAGS...]
#   --time SECONDS   how long to fuzz (default 60); CI runs `scripts/fuzz.sh --time 60`
#   --build-only     build the fuzzer and stop
#   --replay FILE... run these inputs once each (a crash-* artifact) instead of fuzzing
#   after --         extra libFuzzer flags (-jobs=N, -seed=N, ...)
#
# Installs nothing: it needs only the Swift toolchain (libFuzzer and ASan ship with it) and the Swift
# packages the main build already resolves. Exits non-zero when the fuzzer finds a crash, a broken
# assertion, a leak or a timeout; the input is then saved under .build-fuzz/artifacts/ and the command
# to replay it is printed. New inputs go to .build-fuzz/corpus, never into the committed corpus.
set -euo pipefail
source "$(dirname "$0")/env.sh"

seconds=60
build_only=0
replay=()
extra=()
while [ $# -gt 0 ]; do
    case "$1" in
        --time) seconds="$2"; shift 2 ;;
        --build-only) build_only=1; shift ;;
        --replay) shift; while [ $# -gt 0 ] && [ "$1" != -- ]; do replay+=("$1"); shift; done ;;
        --) shift; extra=("$@"); break ;;
        *) echo "usage: scripts/fuzz.sh [--time SECONDS] [--build-only] [--replay FILE...] [-- LIBFUZZER_FLAGS...]" >&2
           exit 2 ;;
    esac
done

root="$PWD"
scratch="$root/.build-fuzz"
# libFuzzer's coverage and ASan for every module, Swift (Driftless, Yams) and C (libyaml). SwiftPM's own
# --sanitize=fuzzer, unlike -Xswiftc -sanitize=fuzzer, parses the target as a library and leaves `main`
# to libFuzzer instead of aliasing it to the module's (absent) entry point.
swift build --package-path Tests/Fuzz --scratch-path "$scratch" --product LoaderFuzzer \
    --sanitize=fuzzer --sanitize=address
binary="$scratch/debug/LoaderFuzzer"
[ "$build_only" = 1 ] && { echo "built $binary"; exit 0; }
# Swift's own crash handler reads memory that ASan guards; leave crash reports to ASan and libFuzzer.
export SWIFT_BACKTRACE=enable=no
export LSAN_OPTIONS="suppressions=$root/Tests/Fuzz/lsan.supp"
if [ "${#replay[@]}" -gt 0 ]; then
    exec "$binary" -timeout=10 -rss_limit_mb=4096 "${replay[@]}"
fi

mkdir -p "$scratch/corpus" "$scratch/artifacts"
# One job, and a per-input timeout far above what any input may take (the loader promises < 1 s).
status=0
ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}" "$binary" \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -max_len=16384 -print_final_stats=1 \
    -dict=Tests/Fuzz/yaml.dict -artifact_prefix="$scratch/artifacts/" \
    "${extra[@]}" "$scratch/corpus" Tests/Fuzz/corpus || status=$?
if [ "$status" != 0 ]; then
    echo "fuzz.sh: the loader fuzzer failed (exit $status); inputs in $scratch/artifacts/" >&2
    echo "replay one with: scripts/fuzz.sh --replay $scratch/artifacts/crash-..." >&2
fi
exit "$status"
