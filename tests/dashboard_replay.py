"""A backend that replays snapshots recorded from a real test-bed stack, so the dashboard's SVG snapshots are
the same on every run (live memory figures and uptimes are not). Record a new one with:

    python -m tests.dashboard_replay --stack dash --out tests/fixtures/dashboard/recording.json

while a stack runs; the pilot tests in tests/e2e/test_dashboard.py drive the same app against the live stack."""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from devstack.monitor.sampler import ContainerSample, Peak, Snapshot
from devstack.planning.alerts import ActiveAlert
from devstack.planning.plan import Plan, plan_from_dict
from devstack.ui.tui.backend import Preview, web_urls

RECORDING = Path(__file__).parent / "fixtures" / "dashboard" / "recording.json"


def snapshot_from_dict(d: dict[str, Any]) -> Snapshot:
    return Snapshot(**{**d, "containers": tuple(ContainerSample(**c) for c in d["containers"])})


class ReplayBackend:
    """Serves the recorded ticks in order, then the last one again (the history ignores a repeated tick)."""

    def __init__(self, path: Path = RECORDING, stack: str = "demo") -> None:
        data = json.loads(path.read_text(encoding="utf-8"))
        self.stack = stack
        self._plan = plan_from_dict(data["plan"])
        self._snaps = [snapshot_from_dict(s) for s in data["snapshots"]]
        self._logs: dict[str, list[str]] = data["logs"]
        self.i = 0
        self.actions: list[tuple[str, str]] = []
        self.alerts: list[ActiveAlert] = []  # what Prometheus's rules hold active; a test sets it

    @property
    def exhausted(self) -> bool:
        return self.i >= len(self._snaps)

    def plan(self) -> Plan | None:
        return self._plan

    def sample(self, stats: bool = True) -> Snapshot:
        if self.exhausted:
            time.sleep(0.1)  # nothing new to say: do not spin the app's sampling loop
        snap = self._snaps[min(self.i, len(self._snaps) - 1)]
        self.i += 1
        return snap

    def follow_logs(self, service: str, on_line: Callable[[str], None], stop: threading.Event) -> None:
        for line in self._logs.get(service, [f"(no recorded logs for {service})"]):
            on_line(line)
        stop.wait()

    def act(self, action: str, service: str) -> str:
        self.actions.append((action, service))
        return f"{service}: {action} done"

    def up(self, on_step: Callable[[str], None], profile: str | None = None, budget: str | None = None) -> str:
        self.actions.append(("up", f"{profile}:{budget}"))
        return "up"

    def down(self, on_step: Callable[[str], None]) -> str:
        self.actions.append(("down", ""))
        return "down"

    def preview(self, profile: str, budget: str) -> Preview:
        from dataclasses import replace

        from devstack.lifecycle.stack import _describe_changes
        from devstack.planning.config import plan_request, select
        from devstack.planning.plan import make_plan

        sel = select(profile=profile or self._plan.profile, services=None, budget=budget, config=None, stack="x")
        sel = replace(sel, services=tuple(self._plan.names()))
        new = make_plan(plan_request(sel, engine_mib=None, host_mib=None, arch=self._plan.arch))
        return Preview(new, _describe_changes(self._plan, new), None)

    def urls(self) -> dict[str, str]:
        return web_urls(self._plan)

    def save_peaks(self, peaks: dict[str, Peak]) -> None:
        pass

    def rule_alerts(self) -> list[ActiveAlert]:
        return list(self.alerts)


def record(stack: str, out: Path, ticks: int, interval: float) -> None:
    import docker

    from devstack.lifecycle.stack import open_stack
    from devstack.monitor.sampler import Sampler

    _, project, plan = open_stack(stack)
    sampler = Sampler(project)
    snaps = []
    for _ in range(ticks):
        snaps.append(asdict(sampler.sample()))
        time.sleep(interval)
    client = docker.from_env()
    logs: dict[str, list[str]] = {}
    for s in plan.services:
        for c in client.containers.list(all=True, filters={"label": [f"com.docker.compose.project={project}"]}):
            if c.labels.get("dev.devstack.service") == s.name and not c.name.endswith("init-1"):
                text = c.logs(tail=12).decode(errors="replace")
                logs.setdefault(s.name, []).extend(ln[:160] for ln in text.splitlines())
                break
    data = {"plan": plan.to_dict(), "snapshots": snaps, "logs": logs}
    out.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    print(f"recorded {len(snaps)} ticks of {project} into {out}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--stack", default="default")
    ap.add_argument("--out", type=Path, default=RECORDING)
    ap.add_argument("--ticks", type=int, default=40)
    ap.add_argument("--interval", type=float, default=1.0)
    a = ap.parse_args()
    record(a.stack, a.out, a.ticks, a.interval)
