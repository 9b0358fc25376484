"""`devstack top` fits its table to the terminal: at 80x24 (Terminal.app's default window) every service of the full
profile is still on screen, its containers folded; a taller terminal lists the containers under their service."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from devstack.monitor.sampler import MIB, ContainerSample, History, Snapshot
from devstack.planning.config import plan_request, select
from devstack.planning.plan import make_plan
from devstack.ui.output import fitted_snapshot

CONTAINERS = {
    "kafka": ["kafka-1", "kafka-2", "kafka-3"],
    "spark": ["spark-master", "spark-worker"],
    "airflow": ["airflow-apiserver", "airflow-dag-processor", "airflow-init", "airflow-scheduler", "airflow-triggerer"],
}  # as a running stack lists them, airflow's finished init container included


def _sample(name: str, service: str) -> ContainerSample:
    init = name.endswith("-init")
    return ContainerSample(
        id=name,
        name=name,
        service=service,
        state="exited" if init else "running",
        health=None if init else "healthy",
        restarts=0,
        oom_killed=False,
        exit_code=0,
        started_at="2026-11-23T17:00:00Z",
        used=100 * MIB,
        limit=1000 * MIB,
        cpu_pct=1.0,
    )


def _screen(width: int, height: int) -> tuple[str, list[str]]:
    sel = select(profile="full", services=None, budget="16g", config=None, stack="t", cwd=Path("/"))
    plan = make_plan(plan_request(sel, engine_mib=None, host_mib=None, arch="x86_64"))
    compose = [s.name for s in plan.services if s.runtime == "compose"]
    samples = tuple(_sample(name, service) for service in compose for name in CONTAINERS.get(service, [service]))
    snap = Snapshot(1_000.0, "p", samples, 8 << 30, 4 << 30, 6 << 30, None, 0.01)
    console = Console(file=io.StringIO(), width=width, height=height, force_terminal=True, color_system=None)
    console.print(fitted_snapshot(console, snap, plan, History()))
    text = console.file.getvalue()  # type: ignore[attr-defined]
    return text, compose


def test_a_small_terminal_keeps_every_service_and_folds_the_containers() -> None:
    text, compose = _screen(80, 24)
    assert len(text.splitlines()) <= 24, text
    for name in compose:
        assert f"\n{name} " in text, text
    assert "kafka-3" not in text and "folded" in text, text


def test_a_tall_terminal_lists_the_containers_under_their_service() -> None:
    text, compose = _screen(120, 50)
    for name in [*compose, "kafka-3", "airflow-triggerer"]:
        assert name in text, text
    assert "folded" not in text, text
