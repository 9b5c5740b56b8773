#!/usr/bin/env python3
"""Benchmark: `driftless validate --repo` on generated repositories of 1,000 and 10,000 manifests.

Builds Driftless in release mode, generates both repositories, runs validate several times on each
and prints the median wall time, the 10k/1k ratio and the peak resident memory.

usage: python3 benchmarks/validate.py [--runs 7]
Goal (issue 2): 10,000 manifests in under 1 s on 2 cores; the 10k time at most 11x the 1k time.
"""
import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def peak_rss_kib_of(cmd):
    """Runs cmd in a fresh child and returns its peak RSS in KiB (via wait4's rusage)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(cmd)} failed")
    return usage.ru_maxrss


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()

    print("building release...", file=sys.stderr)
    subprocess.run(["swift", "build", "-c", "release", "--product", "driftless"], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    binary = os.path.join(ROOT, ".build", "release", "driftless")
    results = {}
    with tempfile.TemporaryDirectory(prefix="driftless-bench-") as tmp:
        for n in (1000, 10000):
            repo = os.path.join(tmp, f"repo-{n}")
            subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "generate_repo.py"), str(n), repo], check=True)
            cmd = [binary, "validate", "--repo", repo, "--state", os.path.join(tmp, "state")]
            check = subprocess.run(cmd, capture_output=True, text=True)
            if check.returncode != 0:
                sys.exit(f"validate failed on {n} manifests:\n{check.stdout[-2000:]}")
            times = []
            for _ in range(args.runs):
                start = time.perf_counter()
                subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)
                times.append(time.perf_counter() - start)
            results[n] = (statistics.median(times), min(times), peak_rss_kib_of(cmd))
            print(f"  {check.stdout.strip().splitlines()[-1]}", file=sys.stderr)

    print(f"validate --repo, release build, {os.cpu_count()} cores, median of {args.runs} runs")
    print(f"{'manifests':>10} {'median':>10} {'best':>10} {'peak RSS':>10}")
    for n, (median, best, rss) in results.items():
        print(f"{n:>10} {median * 1000:>8.0f}ms {best * 1000:>8.0f}ms {rss / 1024:>8.1f}MB")
    ratio = results[10000][0] / results[1000][0]
    print(f"10k/1k time ratio: {ratio:.1f}x (goal <= 11x); 10k under 1 s: {'yes' if results[10000][0] < 1 else 'NO'}")


if __name__ == "__main__":
    main()
