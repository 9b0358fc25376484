"""CLI start-up latency: `devstack --help` and `devstack plan --json`, beside `python -c pass` measured in the
same run (the anchor), as medians of several runs and ratios to the anchor. Issue 14.7's goal: `plan` within 15
times the anchor. `plan` reads profiles validated before from its cache (planning/profiles.py); the "cold" line
empties that cache before every run, as a first `plan` after an install or an edit of devstack.yaml finds it.

    python bench/cli_latency.py [--runs 9]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

CASES = {
    "python -c pass (anchor)": [sys.executable, "-c", "pass"],
    "devstack --help": [sys.executable, "-m", "devstack", "--help"],
    "devstack --version": [sys.executable, "-m", "devstack", "--version"],
    "devstack plan --json (budget given)": [sys.executable, "-m", "devstack", "plan", "--json", "--budget", "20g"],
    "devstack plan --json (reads docker info)": [sys.executable, "-m", "devstack", "plan", "--json"],
    "devstack plan --json (cold: validates)": [sys.executable, "-m", "devstack", "plan", "--json"],
}


def median_seconds(name: str, argv: list[str], runs: int, cache: str) -> float:
    env = {**os.environ, "XDG_CACHE_HOME": cache}
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)  # warm
    times = []
    for _ in range(runs):
        if "cold" in name:
            shutil.rmtree(cache, ignore_errors=True)
        t0 = time.perf_counter()
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=9)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as cache:
        results = {name: median_seconds(name, argv, args.runs, cache) for name, argv in CASES.items()}
    anchor = results["python -c pass (anchor)"]
    print(f"{'command':45} {'median':>9} {'x anchor':>9}   ({args.runs} runs each)")
    for name, secs in results.items():
        print(f"{name:45} {secs * 1000:7.0f}ms {secs / anchor:9.1f}")


if __name__ == "__main__":
    main()
