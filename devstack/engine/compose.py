"""The Compose engine, through python-on-whales, for one rendered stack dir.

What runs is always asked of the engine (containers by their Compose project label), never remembered: after
a Docker restart or containers removed by hand, `status`, `up` and `down` see the truth."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack.catalog import is_one_shot
from devstack.errors import EnvironmentProblem

# the labels a container is found by: Compose's own, and devstack's catalog service (set in compose/*.yaml)
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
CATALOG_LABEL = "dev.devstack.service"


@dataclass(frozen=True)
class ContainerState:
    id: str
    name: str
    service: str  # Compose service (kafka-2)
    catalog: str  # devstack service (kafka)
    state: str  # running, exited, restarting, created, paused, dead
    health: str | None  # healthy, unhealthy, starting, or None without a healthcheck
    exit_code: int
    restarts: int
    oom_killed: bool
    memory_limit: int  # bytes
    ports: list[tuple[str, int, str]] = field(default_factory=list)  # host ip, host port, container port
    published: list[int] = field(default_factory=list)  # host ports it is configured to publish, in any state

    @property
    def one_shot(self) -> bool:
        return is_one_shot(self.service)


def engine_error(e: Exception) -> EnvironmentProblem:
    """Docker's own words, made into one line with the fix."""
    text = (getattr(e, "stderr", None) or str(e)).strip()
    if (
        "Cannot connect to the Docker daemon" in text
        or "Is the docker daemon running" in text
        or ("connect" in text and "docker.sock" in text)
    ):
        return EnvironmentProblem(
            "Docker is not running.",
            "start Docker Desktop (macOS) or the engine (sudo systemctl start docker), then run the command again.",
        )
    last = [ln for ln in text.splitlines() if ln.strip()][-1:] or ["docker failed"]
    return EnvironmentProblem(f"Docker said: {last[0][:300]}", "run the command with --verbose to see the whole call.")


class ComposeEngine:
    def __init__(self, directory: Path, project: str) -> None:
        from python_on_whales import DockerClient

        from devstack.state import project_files

        self.directory = directory
        self.project = project
        self.docker = DockerClient(
            compose_project_directory=str(directory),
            compose_files=project_files(directory),
            compose_env_files=[str(directory / ".env")],
            compose_project_name=project,
        )

    def _call(self, fn: Any, *args: Any, **kw: Any) -> Any:
        from python_on_whales.exceptions import DockerException

        try:
            return fn(*args, **kw)
        except DockerException as e:
            raise engine_error(e) from None

    def missing_images(self, refs: list[str]) -> list[str]:
        return [r for r in refs if not self._call(self.docker.image.exists, r)]

    def pull(self, ref: str, env_key: str) -> None:
        from python_on_whales.exceptions import DockerException

        try:
            self.docker.image.pull(ref, quiet=True)
        except DockerException as e:
            text = (e.stderr or str(e)).strip().splitlines()
            raise EnvironmentProblem(
                f"could not pull {ref}: {text[-1][:200] if text else 'pull failed'}",
                f"check the network or registry login, or point {env_key} at a mirror that has it.",
            ) from None

    def up(self) -> None:
        self._call(self.docker.compose.up, detach=True, remove_orphans=True, quiet=True)

    def down(self, *, volumes: bool) -> None:
        self._call(self.docker.compose.down, volumes=volumes, remove_orphans=True, timeout=30, quiet=True)

    def restart(self, services: list[str]) -> None:
        self._call(self.docker.compose.restart, services, timeout=30)

    def containers(self) -> list[ContainerState]:
        from python_on_whales.exceptions import NoSuchContainer

        found = self._call(self.docker.container.list, all=True, filters=[("label", f"{PROJECT_LABEL}={self.project}")])
        out = []
        for c in found:
            try:  # python-on-whales inspects lazily: a container recreated since the listing is simply gone
                out.append(_state(c))
            except NoSuchContainer:
                continue
        return out

    def logs(self, containers: list[str], *, tail: int | None = None, follow: bool = False) -> Iterator[str]:
        """Log lines of some containers, prefixed by their Compose service when there are several."""
        from python_on_whales.exceptions import DockerException

        try:
            if follow:
                for _, line in self.docker.compose.logs(containers, follow=True, stream=True, tail=_tail(tail)):
                    yield line.decode(errors="replace").rstrip("\n")
            else:
                text = self.docker.compose.logs(containers, tail=_tail(tail))
                yield from str(text).splitlines()
        except DockerException as e:
            raise engine_error(e) from None

    def container_logs(self, container_id: str, tail: int | None = None) -> str:
        return str(self._call(self.docker.container.logs, container_id, tail=tail))


def _host_port(binding: Any) -> str | None:
    """A port binding as python-on-whales gives it: a model in host_config, a dict in network_settings."""
    if isinstance(binding, dict):
        return binding.get("HostPort")
    return getattr(binding, "host_port", None)


def _tail(n: int | None) -> str | None:
    return None if n is None else str(n)


def _state(c: Any) -> ContainerState:
    labels = c.config.labels or {}
    health = c.state.health.status if c.state.health is not None else None
    ports: list[tuple[str, int, str]] = []
    for container_port, bindings in (c.network_settings.ports or {}).items():
        for b in bindings or []:
            ports.append((b.get("HostIp", ""), int(b.get("HostPort") or 0), container_port))
    published = sorted(
        {int(_host_port(b) or 0) for bs in (c.host_config.port_bindings or {}).values() for b in bs or []} - {0}
    )
    name = re.sub(r"^/", "", c.name)
    return ContainerState(
        id=c.id,
        name=name,
        service=labels.get(SERVICE_LABEL, name),
        catalog=labels.get(CATALOG_LABEL, labels.get(SERVICE_LABEL, name)),
        state=str(c.state.status),
        health=str(health) if health else None,
        exit_code=int(c.state.exit_code or 0),
        restarts=int(c.restart_count or 0),
        oom_killed=bool(c.state.oom_killed),
        memory_limit=int(c.host_config.memory or 0),
        ports=ports,
        published=published,
    )


def memory_used(container_ids: list[str]) -> dict[str, int]:
    """Memory each running container uses now (bytes, page cache excluded, as `docker stats` shows), from the
    Engine API's one-shot stats, all containers in parallel: no `docker stats` process, no one-second sample."""
    from concurrent.futures import ThreadPoolExecutor

    import docker

    client = docker.from_env(timeout=10)

    def one(cid: str) -> tuple[str, int]:
        try:
            s = client.api.stats(cid, stream=False, one_shot=True)
            m = s.get("memory_stats", {})
            cache = m.get("stats", {}).get("inactive_file", m.get("stats", {}).get("total_inactive_file", 0))
            return cid, max(0, int(m.get("usage", 0)) - int(cache))
        except Exception:
            return cid, 0

    if not container_ids:
        return {}
    with ThreadPoolExecutor(max_workers=min(16, len(container_ids))) as pool:
        return dict(pool.map(one, container_ids))


def containers_publishing(ports: list[int]) -> dict[int, str]:
    """Which container (of any project) publishes each of `ports`, so a busy port can be named and freed."""
    from python_on_whales import docker

    out: dict[int, str] = {}
    try:
        for c in docker.container.list():
            for bindings in (c.network_settings.ports or {}).values():
                for b in bindings or []:
                    port = int(b.get("HostPort") or 0)
                    if port in ports:
                        out[port] = c.name.lstrip("/")
    except Exception:
        pass
    return out
