"""CLI start-up latency: `devstack --help` and `devstack plan --json`, beside `python -c pass` measured in the
same run (the anchor), as medians of several runs and ratios to the anchor.

    python bench/cli_latency.py [--runs 9]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

CASES = {
    "python -c pass (anchor)": [sys.executable, "-c", "pass"],
    "devstack --help": [sys.executable, "-m", "devstack", "--help"],
    "devstack --version": [sys.executable, "-m", "devstack", "--version"],
    "devstack plan --json (budget given)": [sys.executable, "-m", "devstack", "plan", "--json", "--budget", "20g"],
    "devstack plan --json (reads docker info)": [sys.executable, "-m", "devstack", "plan", "--json"],
}


def median_seconds(argv: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=9)
    args = ap.parse_args()
    results = {name: median_seconds(argv, args.runs) for name, argv in CASES.items()}
    anchor = results["python -c pass (anchor)"]
    print(f"{'command':45} {'median':>9} {'x anchor':>9}   ({args.runs} runs each)")
    for name, secs in results.items():
        print(f"{name:45} {secs * 1000:7.0f}ms {secs / anchor:9.1f}")


if __name__ == "__main__":
    main()
