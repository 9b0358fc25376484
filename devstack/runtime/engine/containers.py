"""A stack's containers as the Engine API sees them: one model (ContainerState) read from one source (the API's
inspect document), for `up`/`status`/`down` and for the resource monitor alike, and their usage from one-shot
stats. The only code that lists, inspects, samples or streams the logs of a stack's containers.

Why the Engine API (the docker SDK's low-level client) and not `docker stats`: `docker stats` streams one sample
per second per container and keeps the engine busy computing them (lazydocker's stats kept Docker Desktop's VM at
100-200 % CPU, jesseduffield/lazydocker#296); `docker stats --no-stream` takes over a second because it waits for a
second sample. A one-shot stats request asks for no second sample; CPU % comes from the previous tick's counters
(monitor/sampler.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from devstack.planning.catalog import is_one_shot
from devstack.runtime.engine.docker import api_client

# the labels a container is found by: Compose's own, and devstack's catalog service (set in compose/*.yaml)
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
CATALOG_LABEL = "dev.devstack.service"


@dataclass(frozen=True)
class ContainerState:
    id: str
    name: str  # the container's name (devstack-default-kafka-2-1)
    service: str  # Compose service (kafka-2)
    catalog: str  # devstack service (kafka)
    state: str  # running, exited, restarting, created, paused, dead
    health: str | None  # healthy, unhealthy, starting, or None without a healthcheck
    exit_code: int
    restarts: int
    oom_killed: bool
    memory_limit: int  # bytes; 0 = no limit
    ports: list[tuple[str, int, str]] = field(default_factory=list)  # host ip, host port, container port
    published: list[int] = field(default_factory=list)  # host ports it is configured to publish, in any state
    started_at: str = ""  # ISO time the engine gives, "" unless running

    @property
    def one_shot(self) -> bool:
        return is_one_shot(self.service)


def state_from_inspect(info: Mapping[str, Any]) -> ContainerState:
    """A container's state from the Engine API's inspect document (`docker inspect`'s JSON)."""
    labels = (info.get("Config") or {}).get("Labels") or {}
    st = info.get("State") or {}
    host = info.get("HostConfig") or {}
    name = re.sub(r"^/", "", str(info.get("Name") or info.get("Id", "")[:12]))
    ports = [
        (b.get("HostIp", ""), int(b.get("HostPort") or 0), container_port)
        for container_port, bindings in ((info.get("NetworkSettings") or {}).get("Ports") or {}).items()
        for b in bindings or []
    ]
    bindings = (host.get("PortBindings") or {}).values()
    published = sorted({int(b.get("HostPort") or 0) for bs in bindings for b in bs or []})
    health = (st.get("Health") or {}).get("Status")
    status = str(st.get("Status") or "unknown")
    return ContainerState(
        id=str(info.get("Id", "")),
        name=name,
        service=labels.get(SERVICE_LABEL, name),
        catalog=labels.get(CATALOG_LABEL, labels.get(SERVICE_LABEL, name)),
        state=status,
        health=str(health) if health else None,
        exit_code=int(st.get("ExitCode") or 0),
        restarts=int(info.get("RestartCount") or 0),
        oom_killed=bool(st.get("OOMKilled")),
        memory_limit=int(host.get("Memory") or 0),
        ports=ports,
        published=[p for p in published if p],
        started_at=str(st.get("StartedAt") or "") if status == "running" else "",
    )


@dataclass(frozen=True)
class Usage:
    """One one-shot stats answer: memory as `docker stats` shows it, and the CPU counters a percentage is
    computed from between two of them."""

    used: int  # bytes, inactive page cache excluded
    cpu_total: int  # ns of CPU the container used, ever
    cpu_system: int  # ns of CPU the host used, ever
    online_cpus: int

    @property
    def cpu(self) -> tuple[int, int, int]:
        return self.cpu_total, self.cpu_system, self.online_cpus


def usage_from_stats(stats: Mapping[str, Any]) -> Usage:
    """Usage from the Engine API's stats document (cgroup v2 and v1 field names)."""
    m = stats.get("memory_stats") or {}
    inner = m.get("stats") or {}
    cache = inner.get("inactive_file", inner.get("total_inactive_file", 0))
    cpu = stats.get("cpu_stats") or {}
    usage = cpu.get("cpu_usage") or {}
    return Usage(
        used=max(0, int(m.get("usage", 0)) - int(cache)),
        cpu_total=int(usage.get("total_usage", 0)),
        cpu_system=int(cpu.get("system_cpu_usage") or 0),
        online_cpus=int(cpu.get("online_cpus") or len(usage.get("percpu_usage") or []) or 1),
    )


def _listing_key(c: Mapping[str, Any]) -> str:
    """What makes an inspect stale: the state and the status text (health, exit code, "Restarting (1)"). The
    status text's uptime ages once a minute, which also refreshes restarts."""
    return f"{c.get('State')}|{c.get('Status')}"


class ProjectContainers:
    """The containers of one Compose project. Keeps each container's inspect until its listing changes, so a
    watcher ticking every second inspects only what changed. Not thread-safe: one owner."""

    def __init__(self, project: str, *, base_url: str | None = None, timeout: float = 10, workers: int = 32) -> None:
        self.project = project
        self._base_url = base_url  # None: DOCKER_HOST or the default socket, as the docker CLI does
        self._timeout = timeout
        self._workers = workers
        self._client: Any = None
        self._pool: ThreadPoolExecutor | None = None
        self._inspected: dict[str, tuple[str, ContainerState]] = {}  # id -> (listing key, state)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def forget_client(self) -> None:
        """After an engine error: the next call connects again (the engine may have restarted)."""
        self._client = None

    def _api(self) -> Any:
        if self._client is None:
            self._client = api_client(self._base_url, self._timeout, pool=self._workers)
        return self._client

    def _map(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="devstack-engine")
        return self._pool

    def _filters(self, catalog: str | None = None) -> dict[str, Any]:
        labels = [f"{PROJECT_LABEL}={self.project}"]
        if catalog is not None:
            labels.append(f"{CATALOG_LABEL}={catalog}")
        return {"label": labels}

    def engine_memory(self) -> int:
        """The engine's memory (bytes): on a Mac, the VM's."""
        return int(self._api().info().get("MemTotal") or 0)

    def running_ids(self) -> list[str]:
        return [c["Id"] for c in self._api().containers(filters=self._filters())]

    def usage(self, ids: list[str]) -> dict[str, Usage]:
        """One-shot stats of these containers, all at once: each request waits for the engine's next collection
        cycle (up to a second), so in series they would add up. A container gone meanwhile is left out."""
        api = self._api()

        def one(cid: str) -> tuple[str, Usage | None]:
            try:
                try:
                    return cid, usage_from_stats(api.stats(cid, stream=False, one_shot=True))
                except TypeError:  # docker SDK older than 6: no one_shot argument
                    return cid, usage_from_stats(api.stats(cid, stream=False))
            except Exception:
                return cid, None

        return {cid: u for cid, u in self._map().map(one, ids) if u is not None}

    def states(self) -> list[ContainerState]:
        """Every container of the project, in any state; inspected again only where its listing changed."""
        api = self._api()
        listing = api.containers(all=True, filters=self._filters())
        for gone in set(self._inspected) - {c["Id"] for c in listing}:
            del self._inspected[gone]
        changed = [c for c in listing if self._inspected.get(c["Id"], ("",))[0] != _listing_key(c)]

        def inspect(c: Mapping[str, Any]) -> tuple[Mapping[str, Any], ContainerState | None]:
            try:
                return c, state_from_inspect(api.inspect_container(c["Id"]))
            except Exception:  # removed between the listing and now
                return c, None

        for c, state in self._map().map(inspect, changed):
            if state is not None:
                self._inspected[c["Id"]] = (_listing_key(c), state)
        return [self._inspected[c["Id"]][1] for c in listing if c["Id"] in self._inspected]

    def log_sources(self, catalog: str) -> list[tuple[str, str]]:
        """(Compose service, container id) of every container of one devstack service, for following logs."""
        found = self._api().containers(all=True, filters=self._filters(catalog))
        return [((c.get("Labels") or {}).get(SERVICE_LABEL, c["Id"][:12]), c["Id"]) for c in found]

    def follow_log(self, container_id: str, tail: int = 200) -> Iterator[bytes]:
        """A container's log as it is written, from its last `tail` lines; closes with the container."""
        stream: Iterator[bytes] = self._api().logs(container_id, stream=True, follow=True, tail=tail)
        return stream


# k3d's labels on the containers it creates (pkg/types: k3d.cluster, k3d.role)
K3D_CLUSTER_LABEL = "k3d.cluster"
K3D_ROLE_LABEL = "k3d.role"


def cluster_nodes(cluster: str, catalog: str) -> list[ContainerState]:
    """The server and agent containers of a k3d cluster, as one devstack service's containers (`catalog`), each
    named as the plan names it (k3d-server-0, k3d-agent-1): what `status` shows of the cluster's memory."""
    from dataclasses import replace

    api = api_client()
    try:
        listing = api.containers(all=True, filters={"label": [f"{K3D_CLUSTER_LABEL}={cluster}"]})
        nodes = [c for c in listing if (c.get("Labels") or {}).get(K3D_ROLE_LABEL) in ("server", "agent")]
        states = [state_from_inspect(api.inspect_container(c["Id"])) for c in nodes]
    finally:
        api.close()
    prefix = f"k3d-{cluster}-"
    return sorted(
        (replace(s, service="k3d-" + s.name.removeprefix(prefix), catalog=catalog) for s in states),
        key=lambda s: s.service,
    )


def memory_used(project: str, container_ids: list[str]) -> dict[str, int]:
    """Memory each running container uses now (bytes, as `docker stats` shows), from one-shot stats."""
    if not container_ids:
        return {}
    reader = ProjectContainers(project, workers=min(16, len(container_ids)))
    try:
        return {cid: u.used for cid, u in reader.usage(container_ids).items()}
    finally:
        reader.close()
