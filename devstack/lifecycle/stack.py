"""Stack lifecycle: up, status, down, restart. Orchestration only: it calls the planner, the renderer, the
engine and the probes, and reports through callbacks, so the CLI and the TUI can show progress their own way."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from devstack.core.errors import DevstackError, EnvironmentProblem, UsageError
from devstack.core.units import fmt_mib
from devstack.lifecycle.doctor import Level, diagnose
from devstack.planning.catalog import CATALOG, Runtime
from devstack.planning.config import Selection, plan_request
from devstack.planning.plan import Plan, engine_reserve, make_plan, plan_from_dict, refuse_over_engine
from devstack.render.project import render
from devstack.render.state import NewDirs, StackLock, project_name, read_secrets, stack_dir
from devstack.runtime.engine.compose import ComposeEngine
from devstack.runtime.engine.containers import ContainerState, memory_used
from devstack.runtime.health import (
    NotReady,
    Probe,
    probe_once,
    prometheus_alerts,
    prometheus_targets,
    wait_healthy,
)
from devstack.runtime.host import HostFacts, PortOwner, host_facts
from devstack.runtime.k3d import ClusterJob
from devstack.services import SERVICES
from devstack.services.prometheus import NAME as PROMETHEUS

# what to try when a service fails to start, from its module
HINTS = {n: s.hint for n, s in SERVICES.items() if s.hint}


@dataclass
class Events:
    """What `up` reports as it goes; the CLI draws it, tests record it."""

    step: Callable[[str], None] = lambda msg: None
    probe: Callable[[Probe], None] = lambda p: None


@dataclass(frozen=True)
class Failure:
    service: str
    reason: str
    logs: str
    hint: str


@dataclass(frozen=True)
class UpResult:
    plan: Plan
    directory: Path
    project: str
    unchanged: bool
    changes: list[str]
    probes: dict[str, Probe]
    failures: list[Failure]
    seconds: float
    skipped: list[str] = field(default_factory=list)


def compose_services(plan: Plan) -> list[str]:
    return [n for n in plan.names() if CATALOG[n].runtime is Runtime.COMPOSE]


class Watch:
    """The engine's view of the stack's containers, refreshed at most every `every` seconds however many probe
    threads ask: one engine call for all, not one per service per tick."""

    def __init__(self, engine: ComposeEngine, every: float = 2.0) -> None:
        self.engine, self.every = engine, every
        self._at = 0.0
        self._lock = threading.Lock()
        self._containers: list[ContainerState] = []
        self._stale = False

    def invalidate(self) -> None:
        """The next read asks the engine again: Compose just replaced containers, the cached ones are gone."""
        self._stale = True

    def containers(self) -> list[ContainerState]:
        with self._lock:
            if self._stale or time.monotonic() - self._at > self.every:
                self._stale = False  # an invalidate() during the fetch below makes the next read fetch again
                self._containers = self.engine.containers()
                self._at = time.monotonic()
            return self._containers

    def of(self, service: str) -> list[ContainerState]:
        return [c for c in self.containers() if c.catalog == service]

    def exited(self, service: str) -> str | None:
        for c in self.of(service):
            if c.one_shot:
                if c.state == "exited" and c.exit_code != 0:
                    return f"{c.service} failed (exit code {c.exit_code})"
                continue
            if c.oom_killed:
                return f"{c.service} was killed for running out of memory (limit {c.memory_limit >> 20} MiB)"
            if c.state in ("exited", "dead"):
                return f"{c.service} exited with code {c.exit_code}"
            if c.state == "restarting" and c.restarts >= 3:
                return f"{c.service} keeps restarting ({c.restarts} restarts)"
        return None

    def not_ready(self, service: str) -> NotReady | None:
        mine = [c for c in self.of(service) if not c.one_shot]
        if not mine:  # Compose has not created it yet (or the engine's listing predates it): not ready, whatever
            # answers on its port; a fast server (Redis) otherwise passes its probe before its healthcheck has run
            return NotReady("compose", f"{service} has no container yet")
        for c in mine:
            if c.state != "running":
                return NotReady("container", f"{c.service} is {c.state}")
            if c.health in ("starting", "unhealthy"):
                return NotReady("healthcheck", f"{c.service}'s healthcheck says {c.health}")
        return None

    def progressing(self, service: str) -> bool:
        return any(c.state == "running" and c.health in (None, "starting") for c in self.of(service))


def _describe_changes(old: Plan | None, new: Plan) -> list[str]:
    if old is None:
        return [f"new stack: {', '.join(new.names())}"]
    out = []
    before, after = set(old.names()), set(new.names())
    if after - before:
        out.append(f"added {', '.join(sorted(after - before))}")
    if before - after:
        out.append(f"removed {', '.join(sorted(before - after))}")
    for s in new.services:
        if s.name in before:
            o = old.service(s.name)
            if (o.limit_mib, o.replicas) != (s.limit_mib, s.replicas):
                a, b = fmt_mib(o.limit_mib), fmt_mib(s.limit_mib)
                if a == b:  # a change smaller than the rounding still deserves to be seen
                    a, b = f"{o.limit_mib} MiB", f"{s.limit_mib} MiB"
                out.append(
                    f"{s.name}: {a} -> {b}"
                    + (f", {o.replicas} -> {s.replicas} replicas" if o.replicas != s.replicas else "")
                )
    return out


def load_plan(directory: Path) -> Plan | None:
    path = directory / "plan.json"
    if not path.exists():
        return None
    return plan_from_dict(json.loads(path.read_text(encoding="utf-8")))


def preflight(sel: Selection, plan: Plan, facts: HostFacts, own_ports: set[int]) -> None:
    """Refuse before anything starts: Docker down, no Compose v2, too little engine memory, a busy port."""
    ports = {
        h: f"{s.name}.{n}" for s in plan.services if s.runtime == "compose" for n, hs in s.ports.items() for h in hs
    }
    busy = tuple(p for p in facts.busy_ports if p.port not in own_ports)
    facts = HostFacts(**{**facts.__dict__, "busy_ports": busy, "tools": {}})
    compose_mib = sum(s.limit_mib for s in plan.services if s.runtime == "compose")
    findings = diagnose(
        facts, profile=plan.profile, floors_mib=compose_mib, budget_mib=None, ports=ports, needs_k3d=False
    )
    errors = [f for f in findings if f.level is Level.ERROR and f.check not in ("disk",)]
    if errors:
        f = errors[0]
        more = f" ({len(errors) - 1} more: devstack doctor)" if len(errors) > 1 else ""
        raise EnvironmentProblem(f.detail + more, f.fix)
    e = facts.engine
    if e.mem_mib and compose_mib > e.mem_mib - engine_reserve(e.mem_mib):
        raise EnvironmentProblem(
            f"the plan needs {fmt_mib(compose_mib)} for its containers; the engine can give "
            f"{fmt_mib(e.mem_mib - engine_reserve(e.mem_mib))}.",
            "give Docker more memory, or plan with a smaller --budget.",
        )


def up(
    sel: Selection,
    *,
    notebooks: Path | None = None,
    events: Events | None = None,
    from_peaks: bool = False,
    force: bool = False,
    build_args: dict[str, dict[str, str]] | None = None,
) -> UpResult:
    """Plan, render, start and probe. `force`: start with a budget above what the engine can give. `build_args`:
    per recipe, for devstack's own images the k3d cluster needs (`up --build-arg`).

    Everything that can refuse (Docker down, the budget, a busy port, the k3d tools, an image that cannot be
    pulled) runs before anything starts; an unchanged, healthy stack is left as it is."""
    ev = events or Events()
    t0 = time.monotonic()
    directory, project = stack_dir(sel.stack), project_name(sel.stack)
    ev.step("checking Docker and the host")
    # Compose's version matters here; k3d/kubectl/helm do not until devstack runs the k3d cluster
    facts = host_facts(bind=sel.override.bind, with_tools=False)
    if not facts.engine.reachable:
        raise EnvironmentProblem(
            f"Docker is not running: {facts.engine.error}",
            "start Docker Desktop (macOS) or the engine (sudo systemctl start docker).",
        )
    plan = _plan_for_up(sel, facts, directory, from_peaks=from_peaks, force=force)
    skipped = [n for n in plan.names() if CATALOG[n].runtime is not Runtime.COMPOSE]
    engine = ComposeEngine(directory, project)
    # a refusal below (a busy port, a pull that fails) leaves no state dir behind that this up created
    with NewDirs(directory) as new_dirs, StackLock(directory, sel.stack):
        running = engine.containers() if directory.exists() else []
        # ports our own containers publish are ours, whatever state they are in (a killed one may be restarting)
        own_ports = {p for c in running for p in c.published}
        facts = HostFacts(**{**facts.__dict__, "busy_ports": tuple(_busy_ports(plan, own_ports))})
        preflight(sel, plan, facts, own_ports)
        # refused here, before anything starts
        cluster = ClusterJob.for_plan(plan, directory, project, facts, build_args)
        if cluster is not None:
            skipped = [n for n in skipped if n != "seldon"]

        old = load_plan(directory)
        before = _fingerprint(directory)
        prom_before = _prometheus_config(directory)
        ev.step("rendering the stack")
        render(plan, directory, project, notebooks=notebooks, start_interval=facts.engine.start_interval)
        secrets = read_secrets(directory)
        after = _fingerprint(directory)
        changes = (_describe_changes(old, plan) or _changed_files(before, after)) if before != after else []
        if not changes and before is not None:
            current = _healthy_as_it_is(plan, secrets, running)
            if current:
                if cluster is not None:
                    cluster.start()
                k3d_failed = _cluster_failures(cluster) + _sync_prometheus(plan, directory, project, prom_before)
                return UpResult(
                    plan, directory, project, not k3d_failed, [], current, k3d_failed, time.monotonic() - t0, skipped
                )
            changes = ["containers missing or unhealthy: bringing them back"]
        _pull_missing(plan, engine, cluster, ev)
        ev.step("starting containers and probing each service as it comes up")
        new_dirs.keep()  # the stack now exists, whatever happens next: `down` needs its project
        watch = Watch(engine)
        starter = _ComposeUp(engine, watch, fresh=not running)
        if cluster is not None:
            cluster.start()  # it waits for the networks `compose up` creates first
        probes = wait_healthy(
            plan,
            secrets,
            exited=starter.exited,
            progressing=starter.progressing,
            on_update=ev.probe,
            not_ready=starter.not_ready,
        )
        starter.join()
        failures = [
            Failure(n, p.detail, _last_logs(engine, watch, n), HINTS.get(n, "see `devstack logs " + n + "`."))
            for n, p in probes.items()
            if not p.ok
        ]
        failures += _cluster_failures(cluster)
        if probes.get(PROMETHEUS) is not None and probes[PROMETHEUS].ok:
            failures += _sync_prometheus(plan, directory, project, prom_before)
        return UpResult(plan, directory, project, False, changes, probes, failures, time.monotonic() - t0, skipped)


def _plan_for_up(sel: Selection, facts: HostFacts, directory: Path, *, from_peaks: bool, force: bool) -> Plan:
    """The plan `up` starts: the selection's, sized by observed peaks with `from_peaks` (keeping the running
    stack's budget unless one is given), refused above the engine's memory unless `force`."""
    if from_peaks and sel.budget_mib is None and (running_plan := load_plan(directory)) is not None:
        from dataclasses import replace

        sel = replace(sel, budget_mib=running_plan.budget_mib, budget_source="the running stack's plan")
    req = plan_request(sel, engine_mib=facts.engine.mem_mib, host_mib=facts.host_mib, arch=facts.arch)
    if not force:
        refuse_over_engine(req)
    if not from_peaks:
        return make_plan(req)
    from devstack.monitor.sampler import load_peaks
    from devstack.planning.peaks import plan_with_peaks

    plan, _ = plan_with_peaks(req, load_peaks(directory))
    return plan


def _busy_ports(plan: Plan, own_ports: set[int]) -> list[PortOwner]:
    """The plan's Compose ports that something other than this stack holds, a container named by its name."""
    from devstack.runtime.engine.docker import containers_publishing
    from devstack.runtime.host import port_owners

    planned = [h for s in plan.services if s.runtime == "compose" for hs in s.ports.values() for h in hs]
    busy = [p for p in port_owners(planned, plan.bind) if p.port not in own_ports]
    named = containers_publishing([p.port for p in busy]) if busy else {}
    return [PortOwner(p.port, f"docker container {named[p.port]}") if p.port in named else p for p in busy]


def _healthy_as_it_is(plan: Plan, secrets: dict[str, str], running: list[ContainerState]) -> dict[str, Probe]:
    """An unchanged stack's probes if every container runs and every service answers; else {} (start it)."""
    expected = {c for s in plan.services for c in s.long_running()}
    up_now = {c.service for c in running if c.state == "running"}
    # probe only a stack whose containers all run: a probe of a stopped service waits out its timeout
    current = probe_once(plan, secrets, compose_services(plan)) if expected <= up_now else {}
    return current if current and all(p.ok for p in current.values()) else {}


def _pull_missing(plan: Plan, engine: ComposeEngine, cluster: ClusterJob | None, ev: Events) -> None:
    """Every image the plan runs that the engine lacks, pulled before anything starts: a failed pull leaves
    nothing half-up, and names the DEVSTACK_IMAGE_* variable that swaps the image."""
    images = {
        ref: f"DEVSTACK_IMAGE_{key.upper()}"
        for s in plan.services
        if s.runtime == "compose"
        for key, ref in s.images.items()
    }
    if cluster is not None:  # the k3s node and k3d's helpers too: a cluster that cannot start starts nothing
        images.update(cluster.node_images())
    missing = engine.missing_images(sorted(images))
    for i, ref in enumerate(missing, 1):
        ev.step(f"pulling image {i}/{len(missing)}: {ref}")
        engine.pull(ref, images[ref])


class _ComposeUp:
    """`docker compose up -d` in a thread, and what the probes may conclude while it runs.

    `compose up -d` blocks on depends_on conditions (PostgreSQL healthy, Airflow's migration done): the probes run
    alongside it, so each service is verified the moment it is ready, not after the slowest dependency. On a
    fresh stack every container that answers is a new one, so that is safe. When containers already exist
    (`fresh` False), an old one may answer (or look exited) before Compose has restarted or replaced it: then a
    service is judged only once `compose up` is done."""

    def __init__(self, engine: ComposeEngine, watch: Watch, *, fresh: bool) -> None:
        self.engine, self.watch, self.fresh = engine, watch, fresh
        self.failed: list[DevstackError] = []
        self.thread = threading.Thread(target=self._run, name="compose-up", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.engine.up()
        except DevstackError as e:
            self.failed.append(e)
        finally:  # before this thread counts as finished, so no probe judges a replaced container's state
            self.watch.invalidate()

    def settling(self) -> bool:
        return not self.fresh and self.thread.is_alive()

    def exited(self, service: str) -> str | None:
        if self.failed:
            return f"docker compose up failed: {self.failed[0].cause}"
        return None if self.settling() else self.watch.exited(service)

    def not_ready(self, service: str) -> NotReady | None:
        if self.settling():
            return NotReady("compose", "docker compose up is still (re)creating containers")
        return self.watch.not_ready(service)

    def progressing(self, service: str) -> bool:
        # while Compose is still recreating containers (a new budget touches every service, and Airflow's
        # migration comes first), a service's deadline must not run out on the wait for Compose itself
        return self.settling() or self.watch.progressing(service)

    def join(self) -> None:
        """Wait for `compose up`; its failure, explained, if it failed."""
        self.thread.join()
        if self.failed:
            raise _explain_compose_failure(self.failed[0], self.engine)


def _cluster_nodes(project: str) -> list[ContainerState]:
    from devstack.runtime.engine.containers import cluster_nodes
    from devstack.services.seldon import NAME as SELDON

    try:
        return cluster_nodes(project, SELDON)
    except Exception:  # the rows still say what k3d says; only the memory figures go missing
        return []


def _k3d_state(directory: Path, project: str) -> tuple[str, bool, str]:
    """Seldon's row in `status`: the k3d cluster as k3d reports it (healthy: running, and ours)."""
    from devstack.runtime import k3d

    try:
        st = k3d.status(directory, project)
    except DevstackError as e:
        return "unknown", False, e.one_line()
    if st.cluster is None:
        return "missing", False, st.detail
    return ("running" if st.cluster.running else "stopped"), bool(st.cluster.running and st.ours), st.detail


def _prometheus_config(directory: Path) -> str | None:
    path = directory / "config/prometheus/prometheus.yml"
    return path.read_text(encoding="utf-8") if path.is_file() else None


def _sync_prometheus(plan: Plan, directory: Path, project: str, before: str | None) -> list[Failure]:
    """Reload a running Prometheus whose prometheus.yml changed: this run's render (another plan's services) or
    the k3d cluster's job, which can be written only once the cluster has given Prometheus a token. Compose does
    not recreate a container whose mounted files changed, and Prometheus reads its config only at start or
    reload."""
    from devstack.render.project import write_prometheus_config
    from devstack.runtime.health import reload_prometheus

    if PROMETHEUS not in plan.names():
        return []
    wrote = write_prometheus_config(plan, directory, project)
    # a stack's first start reads the file as render wrote it; only the cluster's job comes after
    if not wrote and (before is None or _prometheus_config(directory) == before):
        return []
    try:
        reload_prometheus(plan)
    except Exception as e:
        return [
            Failure(
                PROMETHEUS,
                f"could not reload Prometheus with its new scrape jobs: {str(e)[:160]}",
                "",
                "`devstack restart prometheus` reads the config afresh; `devstack logs prometheus` names the error.",
            )
        ]
    return []


def _cluster_failures(cluster: ClusterJob | None) -> list[Failure]:
    """The k3d part's outcome, reported like a service's: one line with its cause and fix."""
    err = cluster.join() if cluster is not None else None
    if err is None:
        return []
    return [Failure("seldon", err.one_line(), "", "`devstack k3d status`; README, section Seldon on k3d.")]


def one_shot_failure(cause: str, logs: Callable[[str], str]) -> tuple[str, str] | None:
    """Compose says only that a one-shot container (a migration, an init) "didn't complete successfully": name
    it, give its last error line (`logs(name)` gives its log), and say where the rest is. Pure."""
    import re

    m = re.search(r'service "([^"]+)" didn\'t complete successfully: exit (\d+)', cause)
    if not m:
        return None
    name, code = m.group(1), m.group(2)
    lines = [ln.strip() for ln in logs(name).splitlines() if ln.strip()]
    errors = [ln for ln in lines if "error" in ln.lower()] or lines
    last = errors[-1][:240] if errors else ""
    catalog = name.split("-")[0]
    return (
        f"{name} failed (exit {code}) and the services after it were not started" + (f": {last}" if last else "."),
        f"see `devstack logs {name}`; {HINTS.get(catalog, 'fix the cause, then run `devstack up` again.')}",
    )


def _explain_compose_failure(e: DevstackError, engine: ComposeEngine) -> DevstackError:
    def logs(name: str) -> str:
        for c in engine.containers():
            if c.service == name:
                with contextlib.suppress(DevstackError):
                    return engine.container_logs(c.id, tail=40)
        return ""

    explained = one_shot_failure(e.cause, logs)
    return EnvironmentProblem(*explained) if explained else e


def _fingerprint(directory: Path) -> dict[str, str] | None:
    """What `up` would change: the rendered .env, compose files and configs (sizes, images, ports, services,
    healthchecks), by path relative to the stack dir."""
    if not (directory / ".env").exists():
        return None
    paths = [directory / ".env", *sorted(directory.glob("compose*.yaml"))]
    paths += sorted((directory / "compose").glob("*.yaml"))
    paths += [p for p in sorted((directory / "config").rglob("*")) if p.is_file()]
    return {str(p.relative_to(directory)): p.read_text(encoding="utf-8") for p in paths}


def _changed_files(before: dict[str, str] | None, after: dict[str, str] | None) -> list[str]:
    """A plan can stay the same while its files change (a new devstack's Compose files, a hand-edited config):
    `up` must apply those too, and say which."""
    if before is None or after is None:
        return []
    names = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    if not names:
        return []
    shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
    return [f"generated files changed: {shown}"]


def _last_logs(engine: ComposeEngine, watch: Watch, service: str, lines: int = 20) -> str:
    out = []
    for c in watch.of(service):
        try:
            tail = engine.container_logs(c.id, tail=lines).rstrip()
        except DevstackError:
            tail = "(no logs)"
        out.append(f"--- {c.service} ---\n{tail}")
    return "\n".join(out)


# ---------------------------------------------------------------- status, down, restart


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    runtime: str
    state: str  # running, partial, stopped, missing, not started
    healthy: bool
    detail: str
    containers: list[dict[str, object]]
    limit_mib: int
    used_mib: int
    ports: dict[str, list[int]]
    # Prometheus only: its scrape jobs, each up/down with the last error (targets.JobHealth as dicts), so status
    # shows whether the metrics pipelines and models are watched by are really arriving
    targets: list[dict[str, object]] = field(default_factory=list)
    # Prometheus only: the alerts its rules hold active, pending or firing (alerts.ActiveAlert as dicts)
    alerts: list[dict[str, object]] = field(default_factory=list)


def open_stack(stack: str) -> tuple[Path, str, Plan]:
    directory = stack_dir(stack)
    plan = load_plan(directory)
    if plan is None:
        raise UsageError(
            f"there is no stack {stack!r} yet (nothing at {directory}).",
            f"run `devstack up{'' if stack == 'default' else ' --stack ' + stack}` first.",
        )
    return directory, project_name(stack), plan


def status(stack: str, *, probes: bool = True) -> tuple[Plan, list[ServiceStatus]]:
    directory, project, plan = open_stack(stack)
    engine = ComposeEngine(directory, project)
    containers = engine.containers()
    if any(s.runtime == "k3d" for s in plan.services):  # the cluster's nodes are Seldon's containers
        containers = [*containers, *_cluster_nodes(project)]
    running = [c for c in containers if c.state == "running"]
    used = memory_used(project, [c.id for c in running])
    results = (
        probe_once(
            plan, read_secrets(directory), [n for n in compose_services(plan) if any(c.catalog == n for c in running)]
        )
        if probes
        else {}
    )
    targets = _targets(plan, results.get(PROMETHEUS))
    alerts = _alerts(plan, results.get(PROMETHEUS))
    out = []
    for s in plan.services:
        mine = [c for c in containers if c.catalog == s.name]
        long_running = [c for c in mine if not c.one_shot]
        expected = s.long_running()
        up_names = {c.service for c in long_running if c.state == "running"}
        if s.runtime != "compose":
            state, healthy, detail = _k3d_state(directory, project)
        elif not mine:
            state, healthy, detail = "missing", False, "no containers: run `devstack up`"
        elif set(expected) <= up_names:
            state = "running"
            unhealthy = [f"{c.service} {c.health}" for c in long_running if c.health in ("unhealthy", "starting")]
            p = results.get(s.name)
            healthy = not unhealthy and (p.ok if p else True)
            detail = f"healthcheck: {', '.join(unhealthy)}" if unhealthy else (p.detail if p else "")
        else:
            down_ = sorted(set(expected) - up_names)
            state = "partial" if up_names else "stopped"
            healthy = False
            why = [
                f"{c.service} {c.state}"
                + (f" (exit {c.exit_code})" if c.state == "exited" else "")
                + (" OOM-killed" if c.oom_killed else "")
                for c in long_running
                if c.service in down_
            ]
            detail = "; ".join(why) or f"not running: {', '.join(down_)}"
        out.append(
            ServiceStatus(
                name=s.name,
                runtime=s.runtime,
                state=state,
                healthy=healthy,
                detail=detail,
                containers=[
                    {
                        "name": c.service,
                        "state": c.state,
                        "health": c.health,
                        "restarts": c.restarts,
                        "oom_killed": c.oom_killed,
                        "limit_mib": c.memory_limit >> 20,
                        "used_mib": used.get(c.id, 0) >> 20,
                        "ports": [f"{ip}:{port}->{cp}" for ip, port, cp in c.ports],
                    }
                    for c in mine
                ],
                limit_mib=s.limit_mib,
                used_mib=sum(used.get(c.id, 0) for c in mine) >> 20,
                ports=s.ports,
                targets=targets if s.name == PROMETHEUS else [],
                alerts=alerts if s.name == PROMETHEUS else [],
            )
        )
    return plan, out


def _targets(plan: Plan, probe: Probe | None) -> list[dict[str, object]]:
    """Prometheus's scrape jobs, asked only of a Prometheus its probe found ready: a stopped one would make
    status wait out a timeout to say what the state column already says."""
    if probe is None or not probe.ok:
        return []
    try:
        return [j.to_dict() for j in prometheus_targets(plan)]
    except Exception as e:  # it answered its probe a moment ago: say why it does not now, never a traceback
        return [
            {"job": PROMETHEUS, "health": "unknown", "up": 0, "total": 0, "last_error": str(e)[:160], "instances": []}
        ]


def _alerts(plan: Plan, probe: Probe | None) -> list[dict[str, object]]:
    """Prometheus's active alerts, asked only of a Prometheus its probe found ready (as _targets). An error asking
    becomes one alert-shaped line rather than nothing, so a broken rule file is not mistaken for a quiet stack."""
    if probe is None or not probe.ok:
        return []
    try:
        return [a.to_dict() for a in prometheus_alerts(plan)]
    except Exception as e:
        return [
            {
                "name": "AlertsUnknown",
                "state": "unknown",
                "severity": "",
                "service": PROMETHEUS,
                "summary": f"Prometheus's alerts could not be read: {str(e)[:160]}",
                "since": "",
                "labels": {},
            }
        ]


def save_logs(engine: ComposeEngine, directory: Path) -> None:
    """Keep each container's log before `down` removes it, so `devstack logs` still has the last run."""
    logs = directory / "logs"
    logs.mkdir(exist_ok=True)
    for c in engine.containers():
        with contextlib.suppress(DevstackError):
            (logs / f"{c.service}.log").write_text(engine.container_logs(c.id), encoding="utf-8")


def down(stack: str, *, volumes: bool) -> list[str]:
    directory, project, plan = open_stack(stack)
    engine = ComposeEngine(directory, project)
    with StackLock(directory, stack):
        gone = [c.service for c in engine.containers()]
        save_logs(engine, directory)
        k3d_error: DevstackError | None = None
        if "seldon" in plan.names():  # before Compose's networks go: the cluster's nodes are attached to them
            from devstack.runtime.k3d import down as k3d_down

            try:
                k3d_down(project)
                from devstack.render.cluster_metrics import forget_credentials
                from devstack.render.project import write_prometheus_config

                forget_credentials(directory)  # the next cluster has another CA and token: the job goes with them
                write_prometheus_config(plan, directory, project)
            except DevstackError as e:  # the Compose services still go down; the k3d error is reported after
                k3d_error = e
        engine.down(volumes=volumes)
        if k3d_error is not None:
            raise k3d_error
        return gone


def restart(stack: str, service: str) -> dict[str, Probe]:
    directory, project, plan = open_stack(stack)
    if service not in plan.names():
        containers = {c: s.name for s in plan.services for c in s.containers}
        if service not in containers:
            raise UsageError(f"{service!r} is not in stack {stack!r}.", f"use one of: {', '.join(plan.names())}.")
        targets, catalog = [service], containers[service]
    else:
        catalog = service
        targets = plan.service(service).long_running()
    engine = ComposeEngine(directory, project)
    with StackLock(directory, stack):
        engine.restart(targets)
        sub = Plan(**{**plan.__dict__, "services": (plan.service(catalog),)})
        watch = Watch(engine)
        return wait_healthy(
            sub, read_secrets(directory), exited=watch.exited, progressing=watch.progressing, not_ready=watch.not_ready
        )
