"""The Compose engine, through python-on-whales, for one rendered stack dir.

What runs is always asked of the engine (containers by their Compose project label), never remembered: after
a Docker restart or containers removed by hand, `status`, `up` and `down` see the truth."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from devstack.runtime.engine.containers import ContainerState, ProjectContainers
from devstack.runtime.engine.docker import DockerFailed, client, docker_errors, image_exists, pull

if TYPE_CHECKING:
    from python_on_whales import DockerClient


class ComposeEngine:
    """One rendered project, as `docker compose` in its directory would see it (`profiles`: Compose profiles to
    switch on, as the demo's services need)."""

    def __init__(self, directory: Path, project: str, profiles: tuple[str, ...] = ()) -> None:
        self.directory = directory
        self.project = project
        self.docker = self._client(profiles)

    def _client(self, profiles: tuple[str, ...]) -> DockerClient:
        from devstack.render.state import project_files

        return client(
            compose_project_directory=str(self.directory),
            compose_files=project_files(self.directory),
            compose_env_files=[str(self.directory / ".env")],
            compose_project_name=self.project,
            compose_profiles=list(profiles),
        )

    def missing_images(self, refs: list[str]) -> list[str]:
        return [r for r in refs if not image_exists(r)]

    def pull(self, ref: str, env_key: str) -> None:
        try:
            pull(ref)
        except DockerFailed as e:
            raise DockerFailed(
                f"could not pull {ref}: {e.last_line[:200]}",
                f"check the network or registry login, or point {env_key} at a mirror that has it.",
                stderr=e.stderr,
            ) from None

    def up(self) -> None:
        with docker_errors():
            self.docker.compose.up(detach=True, remove_orphans=True, quiet=True)

    def start(self, services: list[str], *, recreate: bool = False) -> None:
        """Start these services only (not their dependencies), recreating them if asked."""
        with docker_errors():
            self.docker.compose.up(services, detach=True, dependencies=False, force_recreate=recreate, quiet=True)

    def create(self) -> None:
        """Create every container (and its volumes), started by nothing: files can be put into them first."""
        with docker_errors():
            self.docker.compose.create(pull="never")

    def stop_all(self) -> None:
        with docker_errors():
            self.docker.compose.stop(timeout=30)

    def stop(self, services: list[str]) -> None:
        with docker_errors():
            self.docker.compose.stop(services, timeout=30)

    def remove(self, services: list[str]) -> list[str]:
        """Stop and remove these services' containers; returns the names of those there were."""
        with docker_errors():
            there = [c.name for c in self.docker.compose.ps(services=services, all=True)]
            if there:
                self.docker.compose.rm(services, stop=True)
        return there

    def down(self, *, volumes: bool) -> None:
        """Every container of the project, whichever profile started it: Compose's down leaves the containers of a
        profile .env's COMPOSE_PROFILES does not name (the demo's), and the networks they hold, so `down` after
        `devstack demo` left the demo running. '*' switches every profile on."""
        with docker_errors():
            self._client(("*",)).compose.down(volumes=volumes, remove_orphans=True, timeout=30, quiet=True)

    def restart(self, services: list[str]) -> None:
        with docker_errors():
            self.docker.compose.restart(services, timeout=30)

    def containers(self) -> list[ContainerState]:
        """Every container of the project, in any state, as the engine has them now."""
        reader = ProjectContainers(self.project)
        try:
            with docker_errors():
                return reader.states()
        finally:
            reader.close()

    def logs(self, containers: list[str], *, tail: int | None = None, follow: bool = False) -> Iterator[str]:
        """Log lines of some containers, prefixed by their Compose service when there are several."""
        with docker_errors():
            if follow:
                for _, line in self.docker.compose.logs(containers, follow=True, stream=True, tail=_tail(tail)):
                    yield line.decode(errors="replace").rstrip("\n")
            else:
                text = self.docker.compose.logs(containers, tail=_tail(tail))
                yield from str(text).splitlines()

    def container_logs(self, container_id: str, tail: int | None = None) -> str:
        with docker_errors():
            return str(self.docker.container.logs(container_id, tail=tail))


def _tail(n: int | None) -> str | None:
    return None if n is None else str(n)
