"""Everything the dashboard asks of the world: samples, logs, service actions, plans. The app gets one of
these from `make_backend` (the CLI and the tests share it) and calls it only from worker threads, so a slow or
stopped Docker never freezes the screen. Every failure comes back as a `DevstackError` with cause and fix."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from devstack.core.errors import DevstackError, EnvironmentProblem, UsageError
from devstack.monitor.sampler import Peak, Sampler, Snapshot, save_peaks
from devstack.planning.alerts import ActiveAlert
from devstack.planning.plan import Plan
from devstack.runtime.engine.compose import ComposeEngine
from devstack.services import SERVICES

if TYPE_CHECKING:
    from devstack.planning.config import Selection
    from devstack.runtime.host import HostFacts


@dataclass(frozen=True)
class Preview:
    """A plan the user is trying on the plan screen, and what it would change."""

    plan: Plan | None
    changes: list[str]
    error: str | None


class Backend(Protocol):
    stack: str

    def plan(self) -> Plan | None: ...
    def sample(self, stats: bool = True) -> Snapshot: ...
    def follow_logs(self, service: str, on_line: Callable[[str], None], stop: threading.Event) -> None: ...
    def act(self, action: str, service: str) -> str: ...
    def up(self, on_step: Callable[[str], None], profile: str | None = None, budget: str | None = None) -> str: ...
    def down(self, on_step: Callable[[str], None]) -> str: ...
    def preview(self, profile: str, budget: str) -> Preview: ...
    def urls(self) -> dict[str, str]: ...
    def save_peaks(self, peaks: dict[str, Peak]) -> None: ...
    def rule_alerts(self) -> list[ActiveAlert]: ...


def web_urls(plan: Plan) -> dict[str, str]:
    """The page a person opens for each service (a web UI when it has one), or nothing for Kafka and Redis."""
    from devstack.planning.endpoints import endpoints

    out = {}
    for e in endpoints(plan):
        url = e.page or e.extra.get("ui") or e.extra.get("console") or (e.url if e.url.startswith("http") else "")
        if url:
            out[e.service] = url
    return out


class StackBackend:
    """The real stack: its state dir, the Compose engine and the Engine API."""

    def __init__(
        self,
        stack: str,
        *,
        profile: str | None,
        services: str | None,
        budget: str | None,
        config: str | None,
        docker_url: str | None = None,
    ):
        from devstack.render.state import project_name, stack_dir

        self.stack = stack
        self.directory: Path = stack_dir(stack)
        self.project = project_name(stack)
        self._args = {"profile": profile, "services": services, "budget": budget, "config": config}
        self._sampler = Sampler(self.project, base_url=docker_url)
        self._facts: HostFacts | None = None
        self._docker_url = docker_url

    # ---- reading
    def plan(self) -> Plan | None:
        from devstack.lifecycle.stack import load_plan

        try:
            return load_plan(self.directory)
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def sample(self, stats: bool = True) -> Snapshot:
        return self._sampler.sample(stats)

    def urls(self) -> dict[str, str]:
        plan = self.plan()
        return web_urls(plan) if plan else {}

    def rule_alerts(self) -> list[ActiveAlert]:
        """Prometheus's active alerts, when the stack has a Prometheus (none otherwise); raises when it does not
        answer (the app shows no alerts then: the table says Prometheus is down)."""
        from devstack.runtime.health import prometheus_alerts

        plan = self.plan()
        if plan is None or not any(SERVICES[n].scrapes for n in plan.names() if n in SERVICES):
            return []
        return prometheus_alerts(plan, timeout=3)

    def save_peaks(self, peaks: dict[str, Peak]) -> None:
        if peaks and self.directory.exists():
            save_peaks(self.directory, peaks)

    def follow_logs(self, service: str, on_line: Callable[[str], None], stop: threading.Event) -> None:
        """Follow every container of a service until `stop` is set: one stream per container, lines prefixed
        by the container when there are several (Kafka's brokers)."""
        from devstack.runtime.engine.containers import ProjectContainers

        engine = ProjectContainers(self.project, base_url=self._docker_url)
        found = engine.log_sources(service)
        if not found:
            on_line(f"(no containers for {service}: the stack is down or it was removed)")
            return
        streams: list[Any] = []
        several = len(found) > 1

        def pump(name: str, container_id: str) -> None:
            try:
                stream = engine.follow_log(container_id, tail=200)
                streams.append(stream)
                pending = b""
                for chunk in stream:
                    if stop.is_set():
                        break
                    pending += chunk
                    *lines, pending = pending.split(b"\n")
                    for ln in lines:
                        text = ln.decode(errors="replace").rstrip("\r")
                        on_line(f"{name} | {text}" if several else text)
            except Exception as e:  # the container or the engine went away: say so in the pane
                if not stop.is_set():
                    on_line(f"({name}: log stream ended: {type(e).__name__})")

        threads = [threading.Thread(target=pump, args=source, daemon=True) for source in found]
        for t in threads:
            t.start()
        stop.wait()
        for s in streams:
            with contextlib.suppress(Exception):
                s.close()

    # ---- acting
    def _engine(self) -> ComposeEngine:
        return ComposeEngine(self.directory, self.project)

    def act(self, action: str, service: str) -> str:
        """start, stop or restart one devstack service (all its long-running containers)."""
        from devstack.render.state import StackLock

        plan = self.plan()
        if plan is None:
            raise UsageError(f"stack {self.stack!r} was never started.", "press u to bring it up.")
        if service not in plan.names():
            raise UsageError(f"{service} is not in this stack.", "pick a service from the table.")
        sp = plan.service(service)
        if sp.runtime != "compose":
            raise UsageError(f"{service} runs on k3d, not Compose.", "use `devstack k3d status`.")
        targets = sp.long_running()
        engine = self._engine()
        with StackLock(self.directory, self.stack):
            if action == "start":
                engine.start(targets)
            elif action == "stop":
                engine.stop(targets)
            elif action == "restart":
                engine.start(targets)
                engine.restart(targets)
            else:  # pragma: no cover - the app only sends the three
                raise UsageError(f"unknown action {action}.")
        return f"{service}: {action} done"

    def _selection(self, profile: str | None, budget: str | None) -> Selection:
        from devstack.planning.config import select

        plan = self.plan()
        args = dict(self._args)
        if plan is not None and not args["profile"] and not args["services"]:
            args["profile"], args["services"] = plan.profile, ",".join(plan.names())
        if plan is not None and not args["budget"]:
            args["budget"] = f"{plan.budget_mib}m"
        if profile and (plan is None or profile != plan.profile):  # another profile: its own services
            args["profile"], args["services"] = profile, None
        if budget:
            args["budget"] = budget
        return select(
            profile=args["profile"],
            services=args["services"],
            budget=args["budget"],
            config=args["config"],
            stack=self.stack,
        )

    def up(self, on_step: Callable[[str], None], profile: str | None = None, budget: str | None = None) -> str:
        from devstack.core.resources import notebooks_dir
        from devstack.lifecycle.stack import Events, up

        sel = self._selection(profile, budget)
        result = up(
            sel,
            notebooks=notebooks_dir(),
            events=Events(step=on_step, probe=lambda p: on_step(f"{p.service}: {p.detail}")),
        )
        if result.unchanged:
            return "the stack is already up and healthy; nothing changed"
        if result.failures:
            return "up finished with failures: " + ", ".join(f"{f.service} ({f.reason})" for f in result.failures)
        return f"stack up and healthy in {result.seconds:.0f}s" + (
            f" ({'; '.join(result.changes)})" if result.changes else ""
        )

    def down(self, on_step: Callable[[str], None]) -> str:
        from devstack.lifecycle.stack import down

        on_step("stopping the stack (data volumes are kept)")
        gone = down(self.stack, volumes=False)
        return f"stopped {len(gone)} containers; data kept"

    def preview(self, profile: str, budget: str) -> Preview:
        from devstack.lifecycle.stack import _describe_changes
        from devstack.planning.config import plan_request
        from devstack.planning.plan import make_plan
        from devstack.runtime.host import host_facts

        try:
            if self._facts is None:
                self._facts = host_facts(with_tools=False)
            sel = self._selection(profile or None, budget or None)
            f = self._facts
            engine = f.engine.mem_mib if f.engine.reachable else None
            new = make_plan(plan_request(sel, engine_mib=engine, host_mib=f.host_mib, arch=f.arch))
        except DevstackError as e:
            return Preview(None, [], e.one_line())
        return Preview(new, _describe_changes(self.plan(), new), None)


def make_backend(
    stack: str = "default",
    *,
    profile: str | None = None,
    services: str | None = None,
    budget: str | None = None,
    config: str | None = None,
    docker_url: str | None = None,
) -> StackBackend:
    return StackBackend(stack, profile=profile, services=services, budget=budget, config=config, docker_url=docker_url)


__all__ = ["Backend", "EnvironmentProblem", "Preview", "StackBackend", "make_backend", "web_urls"]
