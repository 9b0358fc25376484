"""The resource sampler behind `top`, `stats` and the dashboard: what every container of a stack uses, how the
host and the engine stand, each service's peak. Headless (no rich, no Textual) and safe to call from a worker.

Every figure comes from the engine through runtime/engine/containers.py (one listing per tick, one one-shot stats
request per running container, an inspect only where a container's listing changed); this module keeps what spans
ticks: CPU % from the previous tick's counters, the last figures between stats ticks, history and peaks.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devstack.core.files import write_atomic
from devstack.planning.catalog import is_one_shot
from devstack.planning.peaks import Peak
from devstack.runtime.engine.containers import ContainerState, ProjectContainers

if TYPE_CHECKING:
    from devstack.planning.plan import Plan

PEAKS_FILE = "peaks.json"
MIB = 1 << 20


@dataclass(frozen=True)
class ContainerSample:
    """A container in one tick: the engine's ContainerState with what it used. Flat and named for the monitor's
    tables (name is the Compose service, service the devstack one), so a recorded session replays from JSON."""

    id: str
    name: str  # Compose service: kafka-2
    service: str  # devstack service: kafka
    state: str  # running, exited, restarting, created, paused, dead, removed
    health: str | None  # healthy, unhealthy, starting, or None without a healthcheck
    restarts: int
    oom_killed: bool
    exit_code: int
    started_at: str  # ISO time the engine gives, "" when never started
    used: int  # bytes, page cache excluded (as `docker stats` shows)
    limit: int  # bytes; 0 = no limit
    cpu_pct: float | None  # of one CPU, like `docker stats`; None until two ticks have been seen

    @classmethod
    def of(cls, c: ContainerState, used: int, cpu_pct: float | None) -> ContainerSample:
        return cls(
            id=c.id,
            name=c.service,
            service=c.catalog,
            state=c.state,
            health=c.health,
            restarts=c.restarts,
            oom_killed=c.oom_killed,
            exit_code=c.exit_code,
            started_at=c.started_at,
            used=used,
            limit=c.memory_limit,
            cpu_pct=cpu_pct,
        )

    @property
    def one_shot(self) -> bool:
        return is_one_shot(self.name)

    @property
    def ok(self) -> bool:
        if self.one_shot:
            return (self.state == "exited" and self.exit_code == 0) or self.state == "running"
        return self.state == "running" and self.health in (None, "healthy")


@dataclass(frozen=True)
class ServiceSample:
    """One devstack service (all its containers) in one tick."""

    name: str
    state: str  # running, partial, starting, stopped, missing
    health: str  # healthy, unhealthy, starting, down
    used: int
    limit: int
    cpu_pct: float
    restarts: int
    oom_killed: bool
    started_at: str
    containers: tuple[ContainerSample, ...]


@dataclass(frozen=True)
class Snapshot:
    """One tick, immutable: safe to hand from a worker thread to the UI."""

    at: float  # wall clock
    project: str
    containers: tuple[ContainerSample, ...]
    host_total: int
    host_used: int
    engine_total: int  # the engine's memory (Docker Desktop's VM on a Mac); 0 when unknown
    engine_error: str | None  # why the engine could not be asked, e.g. Docker not running
    latency: float  # seconds this tick took
    fresh: bool = True  # memory and CPU read in this tick (False: carried over from the last stats tick)

    @property
    def used(self) -> int:
        return sum(c.used for c in self.containers)

    def services(
        self, planned: Iterable[str] = (), elsewhere: dict[str, str] | None = None
    ) -> dict[str, ServiceSample]:
        """Per devstack service; a planned service without containers is `missing`, unless it runs `elsewhere`
        (service -> runtime, e.g. the k3d cluster), which this sampler does not see."""
        names = list(dict.fromkeys([*planned, *(c.service for c in self.containers)]))
        out = {n: aggregate(n, [c for c in self.containers if c.service == n]) for n in names}
        for n, runtime in (elsewhere or {}).items():
            if n in out and not out[n].containers:
                out[n] = ServiceSample(n, runtime, "n/a", 0, 0, 0.0, 0, False, "", ())
        return out


def aggregate(name: str, containers: list[ContainerSample]) -> ServiceSample:
    long_running = [c for c in containers if not c.one_shot]
    if not long_running:
        state, health = ("missing", "down") if not containers else ("stopped", "down")
        if containers and all(c.ok for c in containers):
            state, health = "running", "healthy"
    else:
        running = [c for c in long_running if c.state == "running"]
        if len(running) == len(long_running):
            state = "running"
        elif running:
            state = "partial"
        elif any(c.state == "restarting" for c in long_running):
            state = "restarting"
        else:
            state = "stopped"
        if state != "running":
            health = "unhealthy" if running else "down"
        elif any(c.health == "unhealthy" for c in running):
            health = "unhealthy"
        elif any(c.health == "starting" for c in running):
            health = "starting"
        else:
            health = "healthy"
    started = [c.started_at for c in long_running if c.state == "running" and c.started_at]
    return ServiceSample(
        name=name,
        state=state,
        health=health,
        used=sum(c.used for c in containers),
        limit=sum(c.limit for c in long_running),
        cpu_pct=sum(c.cpu_pct or 0.0 for c in containers),
        restarts=sum(c.restarts for c in containers),
        oom_killed=any(c.oom_killed for c in containers),
        started_at=max(started) if started else "",
        containers=tuple(sorted(containers, key=lambda c: c.name)),
    )


def cpu_percent(before: tuple[int, int, int] | None, now: tuple[int, int, int]) -> float | None:
    """CPU % between two ticks, computed the way `docker stats` does (100 % = one CPU busy)."""
    if before is None:
        return None
    d_cpu, d_sys = now[0] - before[0], now[1] - before[1]
    if d_cpu < 0 or d_sys <= 0:
        return None
    return d_cpu / d_sys * now[2] * 100.0


class Sampler:
    """Samples one Compose project. Not thread-safe by design: one worker owns it and posts Snapshots."""

    def __init__(
        self, project: str, *, base_url: str | None = None, timeout: float = 5.0, max_workers: int = 32
    ) -> None:
        self.project = project
        # base_url None: DOCKER_HOST or the default socket, as the docker CLI does
        self._engine = ProjectContainers(project, base_url=base_url, timeout=timeout, workers=max_workers)
        self._cpu: dict[str, tuple[int, int, int]] = {}
        self._last: dict[str, tuple[int, float | None]] = {}  # id -> (used, cpu) of the last stats tick
        self._engine_total = 0
        self._engine_at = 0.0

    def close(self) -> None:
        self._engine.close()

    def _host(self) -> tuple[int, int]:
        import psutil

        vm = psutil.virtual_memory()
        return int(vm.total), int(vm.total - vm.available)

    def sample(self, stats: bool = True) -> Snapshot:
        """One tick. `stats=False` reads only the state (one listing, ~ms): memory and CPU are then the last
        stats tick's, which lets a watcher notice a dead container every second while asking the engine for
        stats (its costly part, and the engine's) less often."""
        t0 = time.monotonic()
        host_total, host_used = self._host()
        try:
            containers = self._sample_containers(stats)
            error = None
        except Exception as e:  # the engine went away mid-session: the UI says so and keeps sampling
            self._engine.forget_client()
            containers, error = (), _engine_problem(e)
        return Snapshot(
            at=time.time(),
            project=self.project,
            containers=containers,
            host_total=host_total,
            host_used=host_used,
            engine_total=self._engine_total,
            engine_error=error,
            latency=time.monotonic() - t0,
            fresh=stats,
        )

    def _sample_containers(self, with_stats: bool) -> tuple[ContainerSample, ...]:
        if time.monotonic() - self._engine_at > 60 or not self._engine_total:
            self._engine_total = self._engine.engine_memory()
            self._engine_at = time.monotonic()
        # the states are read after the stats (which wait up to a second): what the table shows is fresh
        usage = self._engine.usage(self._engine.running_ids()) if with_stats else {}
        states = self._engine.states()
        for gone in set(self._cpu) - {c.id for c in states}:
            self._cpu.pop(gone, None)
        for gone in set(self._last) - {c.id for c in states}:
            self._last.pop(gone, None)
        out = []
        for c in states:
            u = usage.get(c.id) if c.state == "running" else None
            cpu: float | None = None
            used = 0
            if u is not None:
                used = u.used
                cpu = cpu_percent(self._cpu.get(c.id), u.cpu)
                self._cpu[c.id] = u.cpu
                self._last[c.id] = (used, cpu)
            elif not with_stats and c.state == "running":
                used, cpu = self._last.get(c.id, (0, None))
            else:
                self._last.pop(c.id, None)
            out.append(ContainerSample.of(c, used, cpu))
        return tuple(sorted(out, key=lambda s: (s.service, s.name)))


def _engine_problem(e: Exception) -> str:
    text = f"{type(e).__name__}: {e}"
    if any(w in text for w in ("Connection refused", "No such file", "FileNotFoundError", "Connection aborted")):
        return "Docker is not running (its socket does not answer)"
    if "Timeout" in text or "timed out" in text:
        return "Docker is not answering (timed out)"
    return f"Docker did not answer: {text[:160]}"


# ---------------------------------------------------------------- history and peaks


@dataclass
class History:
    """A bounded ring of snapshots and the peaks seen (per service and the stack's total)."""

    size: int = 600  # at one tick a second: the last ten minutes
    snapshots: deque[Snapshot] = field(default_factory=deque)
    peaks: dict[str, Peak] = field(default_factory=dict)
    total_peak: int = 0

    def __post_init__(self) -> None:
        self.snapshots = deque(self.snapshots, maxlen=self.size)

    def add(self, snap: Snapshot) -> None:
        if snap.engine_error or not snap.fresh or (self.snapshots and self.snapshots[-1].at == snap.at):
            return  # no new figures: a state-only tick or a repeated one
        self.snapshots.append(snap)
        self.total_peak = max(self.total_peak, snap.used)
        for name, s in snap.services().items():
            used = s.used // MIB
            if used and (name not in self.peaks or used > self.peaks[name].used_mib):
                self.peaks[name] = Peak(used, s.limit // MIB, snap.at)
            elif name in self.peaks and s.limit:
                self.peaks[name].limit_mib = s.limit // MIB

    def series(self, service: str | None) -> list[tuple[float, int]]:
        """(time, bytes) of one service, or of the whole stack with None."""
        out = []
        for snap in self.snapshots:
            if service is None:
                out.append((snap.at, snap.used))
            else:
                out.append((snap.at, sum(c.used for c in snap.containers if c.service == service)))
        return out


def load_peaks(directory: Path) -> dict[str, Peak]:
    path = directory / PEAKS_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return {n: Peak(int(p["used_mib"]), int(p["limit_mib"]), float(p["at"])) for n, p in raw["services"].items()}
    except (FileNotFoundError, KeyError, ValueError, TypeError):
        return {}


def save_peaks(directory: Path, peaks: dict[str, Peak]) -> dict[str, Peak]:
    """Merge this session's peaks into the stack's record (the higher wins) and write it atomically."""
    merged = load_peaks(directory)
    for n, p in peaks.items():
        old = merged.get(n)
        if old is None or p.used_mib > old.used_mib:
            merged[n] = Peak(p.used_mib, p.limit_mib, p.at)
    if not directory.exists():
        return merged
    write_atomic(
        directory / PEAKS_FILE,
        json.dumps({"services": {n: asdict(p) for n, p in sorted(merged.items())}}, indent=2) + "\n",
    )
    return merged


class Monitor:
    """A sampler, its history and the stack's peak record, for commands that sample in a loop."""

    def __init__(self, project: str, directory: Path | None, *, history: int = 600) -> None:
        self.sampler = Sampler(project)
        self.history = History(size=history)
        self.directory = directory
        self._saved = time.monotonic()
        self._lock = threading.Lock()

    def tick(self) -> Snapshot:
        snap = self.sampler.sample()
        with self._lock:
            self.history.add(snap)
        if time.monotonic() - self._saved > 30:
            self.save()
        return snap

    def save(self) -> None:
        self._saved = time.monotonic()
        if self.directory is not None:
            with self._lock:
                peaks = dict(self.history.peaks)
            with contextlib.suppress(OSError):
                save_peaks(self.directory, peaks)

    def close(self) -> None:
        self.save()
        self.sampler.close()


def snapshot_dict(
    snap: Snapshot,
    planned: list[str],
    limits_mib: dict[str, int],
    history: History,
    elsewhere: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A tick as `devstack stats --json` prints it: sizes in MiB, one entry per planned service."""
    services = []
    for name, s in snap.services(planned, elsewhere).items():
        peak = history.peaks.get(name)
        services.append(
            {
                "name": name,
                "state": s.state,
                "health": s.health,
                "used_mib": s.used // MIB,
                "limit_mib": s.limit // MIB,
                "planned_mib": limits_mib.get(name),
                "percent": round(s.used / s.limit * 100, 1) if s.limit else None,
                "cpu_percent": round(s.cpu_pct, 1),
                "restarts": s.restarts,
                "oom_killed": s.oom_killed,
                "peak_mib": peak.used_mib if peak else s.used // MIB,
                "containers": [
                    {
                        "name": c.name,
                        "state": c.state,
                        "health": c.health,
                        "used_mib": c.used // MIB,
                        "limit_mib": c.limit // MIB,
                        "cpu_percent": None if c.cpu_pct is None else round(c.cpu_pct, 1),
                        "restarts": c.restarts,
                        "oom_killed": c.oom_killed,
                    }
                    for c in s.containers
                ],
            }
        )
    return {
        "at": round(snap.at, 3),
        "project": snap.project,
        "engine_error": snap.engine_error,
        "host": {"total_mib": snap.host_total // MIB, "used_mib": snap.host_used // MIB},
        "engine": {"total_mib": snap.engine_total // MIB},
        "stack": {"used_mib": snap.used // MIB, "peak_mib": history.total_peak // MIB},
        "latency_ms": round(snap.latency * 1000, 1),
        "services": services,
    }


def elsewhere(plan: Plan | None) -> dict[str, str]:
    """The plan's services that do not run as Compose containers (the k3d cluster), by runtime."""
    return {s.name: s.runtime for s in plan.services if s.runtime != "compose"} if plan is not None else {}
