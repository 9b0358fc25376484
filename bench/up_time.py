"""Time to all healthy: `devstack up` beside `docker compose up --wait` (the anchor) on the same rendered project,
images present, in the same run, cold and warm; prints both, the ratio, and where devstack's cold start went.

- cold: no containers, empty volumes (a first `up`: Kafka formats its storage, Airflow migrates its database);
- warm: the containers removed but the data volumes kept (`down` without `--volumes`, then `up` again).

`docker compose up --wait` trusts Compose healthchecks only; `devstack up` also waits until every service answers
in its own protocol from the host, so the ratio says what that certainty costs. Bootstrap is left out of
devstack's figure (`--no-bootstrap`): the anchor creates no topics or buckets either.

    python bench/up_time.py [--profile full] [--services a,b] [--budget 16g] [--runs 1]

By default every service of the full profile that runs in Compose: Seldon's k3d cluster needs images from
registries a machine without one cannot pull, so it is left out unless `--services` names it. Uses
tests/testbed/images.env when present (machines without a registry), like the tests.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from devstack.planning.catalog import CATALOG, Runtime  # noqa: E402
from devstack.planning.profiles import load_profile  # noqa: E402
from tests.testbed_images import testbed_images  # noqa: E402

STACK = "bench"


def run(argv: list[str], env: dict[str, str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    r = subprocess.run(argv, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"failed: {' '.join(argv)}\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    return time.perf_counter() - t0, r.stdout


def compose_services(profile: str) -> str:
    names = load_profile(profile).profile.services
    return ",".join(n for n in names if CATALOG[n].runtime is Runtime.COMPOSE)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--profile", default="full")
    ap.add_argument("--services", help="default: the profile's services that run in Compose")
    ap.add_argument("--budget", default="16g")
    ap.add_argument("--runs", type=int, default=1)
    args = ap.parse_args()
    services = args.services or compose_services(args.profile)
    env = {**os.environ, **testbed_images(), "XDG_STATE_HOME": tempfile.mkdtemp(prefix="devstack-bench-")}
    devstack = [sys.executable, "-m", "devstack"]
    common = ["--profile", args.profile, "--services", services, "--budget", args.budget, "--stack", STACK]
    stack_dir = Path(env["XDG_STATE_HOME"]) / "devstack" / STACK
    run([*devstack, "render", *common, "--out", str(stack_dir)], env)
    compose = ["docker", "compose", "--project-directory", str(stack_dir)]
    compose_up = [*compose, "up", "-d", "--wait", "--wait-timeout", "900"]
    devstack_up = [*devstack, "up", *common, "--no-bootstrap", "--json"]
    times: dict[str, list[float]] = {k: [] for k in ("anchor cold", "devstack cold", "anchor warm", "devstack warm")}
    waited: dict[str, dict[str, float]] = {}
    seconds: dict[str, float] = {}
    try:
        for i in range(args.runs):
            times["anchor cold"].append(run(compose_up, env)[0])
            run([*compose, "down"], env)
            times["anchor warm"].append(run(compose_up, env)[0])
            run([*compose, "down", "--volumes"], env)
            t, out = run(devstack_up, env)
            times["devstack cold"].append(t)
            for name, s in json.loads(out)["services"].items():
                waited[name], seconds[name] = s["waited"], s["seconds"]
            run([*devstack, "down", "--stack", STACK], env)
            times["devstack warm"].append(run(devstack_up, env)[0])
            run([*devstack, "down", "--stack", STACK, "--volumes", "--yes"], env)
            print(f"run {i + 1}: " + ", ".join(f"{k} {v[-1]:.1f}s" for k, v in times.items()), flush=True)
    finally:
        subprocess.run([*compose, "down", "--volumes"], env=env, capture_output=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"services {services}; budget {args.budget}; {args.runs} run(s); images present")
    for kind in ("cold", "warm"):
        a, d = med[f"anchor {kind}"], med[f"devstack {kind}"]
        print(f"{kind}: {'docker compose up --wait (anchor)':36} {a:7.1f}s")
        print(f"{kind}: {'devstack up (probes in each protocol)':36} {d:7.1f}s")
        print(f"{kind}: {'ratio devstack / anchor':36} {d / a:7.2f}")
    print("devstack cold, last run: each service's seconds to healthy, by what it waited on")
    for name in sorted(seconds, key=lambda n: -seconds[n]):
        print(f"  {name:<11} {seconds[name]:6.1f}s  " + ", ".join(f"{k} {v:.1f}s" for k, v in waited[name].items()))


if __name__ == "__main__":
    main()
