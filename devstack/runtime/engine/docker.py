"""Docker itself, apart from a Compose project (compose.py): images, containers, networks, the Engine API.

The engine package is the only code that talks to Docker (a test holds every other module to it): k3d, image
builds, the demo, the monitor and the dashboard ask these functions, which take and return plain values, and
turn Docker's failures into `DockerFailed` with Docker's own last words. python-on-whales drives the CLI; the
`docker` SDK is used only where the CLI has no cheap equivalent (one-shot stats, a log stream per container).
Both are imported when first needed, so a command that never asks Docker never loads them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from devstack.core.errors import EnvironmentProblem


class DockerFailed(EnvironmentProblem):
    """A Docker call that failed: `stderr` is what Docker said, `last_line` its last non-empty line."""

    def __init__(self, cause: str, fix: str = "", *, stderr: str = "") -> None:
        super().__init__(cause, fix)
        self.stderr = stderr

    @property
    def last_line(self) -> str:
        return ([ln for ln in self.stderr.strip().splitlines() if ln.strip()][-1:] or ["docker failed"])[0]


def engine_error(e: Exception) -> DockerFailed:
    """Docker's own words, made into one line with the fix."""
    text = (getattr(e, "stderr", None) or str(e)).strip()
    if (
        "Cannot connect to the Docker daemon" in text
        or "Is the docker daemon running" in text
        or ("connect" in text and "docker.sock" in text)
    ):
        return DockerFailed(
            "Docker is not running.",
            "start Docker Desktop (macOS) or the engine (sudo systemctl start docker), then run the command again.",
            stderr=text,
        )
    last = [ln for ln in text.splitlines() if ln.strip()][-1:] or ["docker failed"]
    return DockerFailed(
        f"Docker said: {last[0][:300]}", "run the command with --verbose to see the whole call.", stderr=text
    )


@contextmanager
def docker_errors() -> Iterator[None]:
    """python-on-whales' DockerException as DockerFailed, so no caller outside the engine needs to know it."""
    from python_on_whales.exceptions import DockerException

    try:
        yield
    except DockerException as e:
        raise engine_error(e) from None


def client(**compose: Any) -> Any:
    """A python-on-whales client: the default one, or one for a Compose project (`compose_*` arguments)."""
    if not compose:
        from python_on_whales import docker

        return docker
    from python_on_whales import DockerClient

    return DockerClient(**compose)


def stream_command(argv: list[str], env: dict[str, str] | None = None) -> Iterable[str]:
    """The lines a docker CLI command prints, both streams, as it prints them (a classic `docker build`)."""
    from python_on_whales.utils import stream_stdout_and_stderr

    with docker_errors():
        for _, chunk in stream_stdout_and_stderr(argv, env=env or {}):
            yield chunk.decode(errors="replace")


def image_exists(ref: str) -> bool:
    with docker_errors():
        return bool(client().image.exists(ref))


def image_labels(ref: str) -> dict[str, str] | None:
    """The image's labels, or None when it is not in the local engine."""
    docker = client()
    with docker_errors():
        if not docker.image.exists(ref):
            return None
        return dict(docker.image.inspect(ref).config.labels or {})


def pull(ref: str) -> None:
    with docker_errors():
        client().image.pull(ref, quiet=True)


def container_labels(name: str) -> dict[str, str]:
    with docker_errors():
        return dict(client().container.inspect(name).config.labels or {})


def exec_output(container: str, argv: list[str], envs: dict[str, str] | None = None) -> str:
    """What `argv` prints inside a running container (`docker exec`); `envs` are set for it alone, so a secret
    passed there is not on any command line."""
    with docker_errors():
        return str(client().container.execute(container, argv, envs=envs or {}) or "")


def container_networks(name: str) -> set[str]:
    with docker_errors():
        return set((client().container.inspect(name).network_settings.networks or {}).keys())


def connect_network(network: str, container: str) -> None:
    with docker_errors():
        client().network.connect(network, container)


def network_exists(name: str) -> bool:
    with docker_errors():
        return bool(client().network.exists(name))


def containers_publishing(ports: list[int]) -> dict[int, str]:
    """Which container (of any project) publishes each of `ports`, so a busy port can be named and freed."""
    out: dict[int, str] = {}
    try:
        for c in client().container.list():
            for bindings in (c.network_settings.ports or {}).values():
                for b in bindings or []:
                    port = int(b.get("HostPort") or 0)
                    if port in ports:
                        out[port] = c.name.lstrip("/")
    except Exception:
        return out
    return out


def api_client(base_url: str | None = None, timeout: float = 10, pool: int = 10) -> Any:
    """The docker SDK's low-level Engine API client: one-shot stats and per-container log streams."""
    import docker

    if base_url:
        return docker.APIClient(base_url=base_url, timeout=int(timeout), max_pool_size=pool)
    return docker.from_env(timeout=int(timeout), max_pool_size=pool).api
