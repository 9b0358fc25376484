"""What watching the stack costs: `devstack dashboard` beside `docker stats` (the anchor), each run for the same
window in a real terminal (tmux) against the same full stack, in the same run. Prints, for each watcher and for
nobody watching (the baseline): its own CPU seconds per minute and peak RSS, and the engine's side (dockerd and
containerd CPU seconds per minute above the baseline), then the ratios dashboard / docker stats. Then the refresh
latency: from `docker kill` of a container to the dashboard's table showing it down (Textual pilot, real engine).

Goals (issue 4): the dashboard costs less than `docker stats` in CPU, engine side included, and stays under
100 MB RSS. On a Mac the engine runs in Docker Desktop's VM; here dockerd and containerd are host processes, so
their CPU is measured directly.

    python bench/dashboard_cost.py [--window 60] [--budget 16g]
Brings the stack up (test images from tests/testbed/images.env when present) and takes it down at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.testbed_images import testbed_images  # noqa: E402

STACK = "benchdash"
PROJECT = f"devstack-{STACK}"


def engine_procs() -> list[psutil.Process]:
    return [p for p in psutil.process_iter(["name"]) if p.info["name"] in ("dockerd", "containerd")]


def cpu_seconds(procs: list[psutil.Process]) -> float:
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
            for c in p.children(recursive=True):
                ct = c.cpu_times()
                total += ct.user + ct.system
        except psutil.NoSuchProcess:
            pass
    return total


def own_cpu(p: psutil.Process) -> float:
    """A watcher's CPU, its children included, without the engine's shims that happen to be its descendants."""
    try:
        t = p.cpu_times()
        return t.user + t.system
    except psutil.NoSuchProcess:
        return 0.0


def tree_rss(p: psutil.Process) -> int:
    try:
        return p.memory_info().rss + sum(c.memory_info().rss for c in p.children(recursive=True))
    except psutil.NoSuchProcess:
        return 0


def watch(name: str, cmd: str | None, window: float, env: dict[str, str]) -> dict[str, float]:
    """Run `cmd` in a 160x48 tmux pane for `window` seconds; measure it and the engine."""
    engine = engine_procs()
    session = f"bench-{name}"
    target: psutil.Process | None = None
    if cmd is not None:
        tmux_env = [arg for k in ("XDG_STATE_HOME", "PYTHONPATH") for arg in ("-e", f"{k}={env[k]}")]
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
        subprocess.run(
            ["tmux", "new-session", "-d", "-s", session, "-x", "160", "-y", "48", *tmux_env, f"exec {cmd}"], check=True
        )
        pane_pid = int(
            subprocess.run(
                ["tmux", "list-panes", "-t", session, "-F", "#{pane_pid}"], capture_output=True, text=True, check=True
            ).stdout.split()[0]
        )
        target = psutil.Process(pane_pid)
        time.sleep(5)  # start-up (imports, first frame) is not the steady cost being measured
    e0, w0, t0 = cpu_seconds(engine), own_cpu(target) if target else 0.0, time.monotonic()
    rss: list[int] = []
    while time.monotonic() - t0 < window:
        if target is not None:
            rss.append(tree_rss(target))
        time.sleep(1)
    elapsed = time.monotonic() - t0
    e1, w1 = cpu_seconds(engine), own_cpu(target) if target else 0.0
    if cmd is not None:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    per_min = 60 / elapsed
    return {
        "cpu_s_per_min": (w1 - w0) * per_min,
        "rss_mb": (max(rss) if rss else 0) / 1e6,
        "engine_cpu_s_per_min": (e1 - e0) * per_min,
    }


def sampling_choice(rounds: int) -> None:
    """One tick of memory for every container, three ways, with the engine's CPU for each: the measurement
    behind the sampler's design (devstack/monitor/sampler.py)."""
    from concurrent.futures import ThreadPoolExecutor

    import docker

    from devstack.monitor.sampler import Sampler

    api = docker.from_env().api
    ids = [c["Id"] for c in api.containers(filters={"label": f"com.docker.compose.project={PROJECT}"})]
    sampler = Sampler(PROJECT)
    sampler.sample()
    pool = ThreadPoolExecutor(32)  # as many as the sampler uses: the same parallelism for both

    def cli() -> None:
        subprocess.run(["docker", "stats", "--no-stream", *ids], capture_output=True, check=True)

    def two_sample() -> None:
        list(pool.map(lambda i: api.stats(i, stream=False, one_shot=False), ids))

    def devstack_tick() -> None:
        sampler.sample()

    engine = engine_procs()
    print(f"one tick over {len(ids)} containers ({rounds} rounds each): wall seconds, engine CPU seconds per tick")
    for name, fn in (
        ("docker stats --no-stream", cli),
        ("Engine API stats, two samples", two_sample),
        ("devstack sampler (one-shot)", devstack_tick),
    ):
        walls, e0 = [], cpu_seconds(engine)
        for _ in range(rounds):
            t0 = time.perf_counter()
            fn()
            walls.append(time.perf_counter() - t0)
        cpu = (cpu_seconds(engine) - e0) / rounds
        print(f"  {name:32} {statistics.median(walls):6.3f} s   engine {cpu:6.3f} s")
    sampler.close()
    pool.shutdown()
    print()


def refresh_latency(runs: int) -> list[float]:
    """docker kill -> the dashboard's table shows the service down, through the real backend and engine."""
    from devstack.ui.tui.app import DashboardApp
    from devstack.ui.tui.backend import make_backend
    from devstack.ui.tui.widgets import ServicesTable

    out: list[float] = []

    async def one() -> None:
        app = DashboardApp(make_backend(STACK), interval=1.0, follow_logs=False)
        async with app.run_test(size=(160, 48)) as pilot:
            table = app.query_one(ServicesTable)

            def health() -> str:
                try:
                    return str(table.get_cell("redis", "health"))
                except Exception:
                    return ""

            while health() != "healthy":
                await pilot.pause(0.1)
            await pilot.pause(0.5)
            cid = subprocess.run(
                ["docker", "ps", "-q", "--filter", f"label=com.docker.compose.project={PROJECT}", "--filter",
                 "label=com.docker.compose.service=redis"],
                capture_output=True, text=True, check=True,
            ).stdout.split()[0]  # fmt: skip
            t0 = time.monotonic()
            subprocess.run(["docker", "kill", cid], check=True, capture_output=True)
            while health() not in ("down", "unhealthy"):
                await pilot.pause(0.02)
            out.append(time.monotonic() - t0)
            subprocess.run(["docker", "start", cid], check=True, capture_output=True)
            while health() != "healthy":
                await pilot.pause(0.2)

    for _ in range(runs):
        asyncio.run(one())
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--window", type=float, default=60)
    ap.add_argument("--budget", default="16g")
    ap.add_argument(
        "--services", default="kafka,spark,clickhouse,postgres,minio,redis,mlflow,airflow,jupyter,prometheus"
    )
    ap.add_argument("--latency-runs", type=int, default=5)
    ap.add_argument("--keep", action="store_true", help="leave the stack up afterwards")
    args = ap.parse_args()
    if shutil.which("tmux") is None:
        sys.exit("tmux is needed (apt-get install tmux): the watchers run in a real terminal")
    env = {
        **os.environ,
        **testbed_images(),
        "XDG_STATE_HOME": os.environ.get("DEVSTACK_BENCH_STATE") or tempfile.mkdtemp(prefix="devstack-bench-"),
        "PYTHONPATH": str(REPO),
    }
    os.environ.update(env)
    devstack = [sys.executable, "-m", "devstack"]
    # every Compose service of the full profile (Seldon's k3d cluster needs the k3s image, absent on test beds)
    up = [*devstack, "up", "--services", args.services, "--budget", args.budget, "--stack", STACK]
    r = subprocess.run(up, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"devstack up failed:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    try:
        n = len(subprocess.run(["docker", "ps", "-q", "--filter", f"label=com.docker.compose.project={PROJECT}"],
                               capture_output=True, text=True).stdout.split())  # fmt: skip
        print(f"stack: {n} running containers, window {args.window:.0f}s per watcher, terminal 160x48 (tmux)\n")
        sampling_choice(5)
        results = {
            "nobody watching": watch("idle", None, args.window, env),
            "devstack dashboard": watch(
                "dash", f"{sys.executable} -m devstack dashboard --stack {STACK}", args.window, env
            ),
            "docker stats": watch(
                "stats",
                f"docker stats $(docker ps -q --filter label=com.docker.compose.project={PROJECT})",
                args.window,
                env,
            ),
        }
        base = results["nobody watching"]["engine_cpu_s_per_min"]
        print(
            f"{'watcher':22} {'own CPU s/min':>14} {'peak RSS MB':>12} {'engine CPU s/min':>17}"
            f" {'engine above idle':>18}"
        )
        for name, r_ in results.items():
            print(
                f"{name:22} {r_['cpu_s_per_min']:14.2f} {r_['rss_mb']:12.1f} {r_['engine_cpu_s_per_min']:17.2f}"
                f" {r_['engine_cpu_s_per_min'] - base:18.2f}"
            )
        d, s = results["devstack dashboard"], results["docker stats"]
        own = (d["cpu_s_per_min"] + d["engine_cpu_s_per_min"] - base) / max(
            1e-9, s["cpu_s_per_min"] + s["engine_cpu_s_per_min"] - base
        )
        print(f"\nratio dashboard / docker stats, own + engine CPU above idle: {own:.2f} (goal < 1.0)")
        print(f"dashboard peak RSS: {d['rss_mb']:.1f} MB (goal < 100 MB)")
        lat = refresh_latency(args.latency_runs)
        print(
            f"refresh latency, docker kill -> table shows it down ({len(lat)} runs, 1 s ticks): "
            f"median {statistics.median(lat):.2f}s, max {max(lat):.2f}s ({', '.join(f'{x:.2f}' for x in lat)})"
        )
    finally:
        if not args.keep:
            subprocess.run([*devstack, "down", "--stack", STACK, "--volumes", "--yes"], env=env, capture_output=True)


if __name__ == "__main__":
    main()
