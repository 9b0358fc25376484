"""Time to all healthy: `devstack up` beside `docker compose up --wait` (the anchor) on the same rendered project,
images present, each from empty volumes, in the same run; prints both and the ratio (goal <= 1.0).

`docker compose up --wait` trusts Compose healthchecks only; `devstack up` also waits until every service
answers in its own protocol from the host, so the ratio says what that certainty costs.

    python bench/up_time.py [--profile full] [--budget 16g] [--runs 1]
Uses tests/testbed/images.env when present (machines without a registry), like the tests.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.testbed_images import testbed_images  # noqa: E402

STACK = "bench"


def run(argv: list[str], env: dict[str, str], cwd: Path | None = None) -> float:
    t0 = time.perf_counter()
    r = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"failed: {' '.join(argv)}\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--profile", default="full")
    ap.add_argument("--budget", default="16g")
    ap.add_argument("--runs", type=int, default=1)
    args = ap.parse_args()
    env = {**os.environ, **testbed_images(), "XDG_STATE_HOME": tempfile.mkdtemp(prefix="devstack-bench-")}
    devstack = [sys.executable, "-m", "devstack"]
    common = ["--profile", args.profile, "--budget", args.budget, "--stack", STACK]
    stack_dir = Path(env["XDG_STATE_HOME"]) / "devstack" / STACK
    run([*devstack, "render", *common, "--out", str(stack_dir)], env)
    compose = ["docker", "compose", "--project-directory", str(stack_dir)]
    anchor, ours = [], []
    try:
        for i in range(args.runs):
            anchor.append(run([*compose, "up", "-d", "--wait", "--wait-timeout", "900"], env))
            run([*compose, "down", "--volumes"], env)
            ours.append(run([*devstack, "up", *common], env))
            run([*devstack, "down", "--stack", STACK, "--volumes", "--yes"], env)
            print(f"run {i + 1}: compose up --wait {anchor[-1]:.1f}s, devstack up {ours[-1]:.1f}s", flush=True)
    finally:
        subprocess.run([*compose, "down", "--volumes"], env=env, capture_output=True)
    a, d = statistics.median(anchor), statistics.median(ours)
    print(f"profile {args.profile}, budget {args.budget}, {args.runs} run(s), images present, empty volumes")
    print(f"{'docker compose up --wait (anchor)':38} {a:7.1f}s")
    print(f"{'devstack up (probes in each protocol)':38} {d:7.1f}s")
    print(f"{'ratio devstack / anchor':38} {d / a:7.2f}")


if __name__ == "__main__":
    main()
