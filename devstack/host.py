"""Host facts: what this machine and its Docker engine can give. Read-only inspection, never a change.

On a Mac the engine is Docker Desktop's (or colima's) Linux VM, and its memory, read from `docker info`, is the
real ceiling for the stack: host RAM only bounds what the VM may be given.
"""

from __future__ import annotations

import errno
import platform
import re
import shutil
import socket
from dataclasses import dataclass, field

import psutil

MIB = 1024 * 1024


@dataclass(frozen=True)
class EngineFacts:
    cli: str | None = None  # docker client version, None when the CLI is missing
    reachable: bool = False
    error: str = ""
    server_version: str = ""
    mem_mib: int = 0
    cpus: int = 0
    operating_system: str = ""  # "Docker Desktop", "Debian GNU/Linux 12 (bookworm)", ...
    root_dir: str = ""
    arch: str = ""
    compose: str | None = None  # Compose v2 plugin version

    @property
    def start_interval(self) -> bool:
        """Whether the engine takes a healthcheck's start_interval: Docker Engine 25+ (API 1.44); Compose refuses
        the key on older engines ("can't set healthcheck.start_interval as feature require Docker Engine v25")."""
        major = self.server_version.split(".", 1)[0]
        return major.isdigit() and int(major) >= 25

    @property
    def is_desktop(self) -> bool:
        return "docker desktop" in self.operating_system.lower()


@dataclass(frozen=True)
class PortOwner:
    port: int
    owner: str  # "postgres (pid 812)", "docker-proxy (a container)", or "unknown"


@dataclass(frozen=True)
class HostFacts:
    arch: str
    os: str
    host_mib: int
    cpus: int
    disk_free_mib: int
    disk_path: str
    engine: EngineFacts
    tools: dict[str, str | None] = field(default_factory=dict)  # k3d/kubectl/helm -> version or None
    busy_ports: tuple[PortOwner, ...] = ()


def normalize_arch(machine: str) -> str:
    m = machine.lower()
    return {"aarch64": "arm64", "arm64": "arm64", "x86_64": "amd64", "amd64": "amd64"}.get(m, m)


def engine_facts(detail: bool = True) -> EngineFacts:
    """`docker info` through python-on-whales; every failure becomes a fact, never an exception.

    Without `detail` only `docker info` runs (the planner needs memory and arch, not versions): each docker CLI
    call costs ~80 ms, which `devstack plan` pays on every run."""
    if shutil.which("docker") is None:
        return EngineFacts(error="the docker CLI is not installed")
    from python_on_whales import DockerClient
    from python_on_whales.exceptions import DockerException

    client = DockerClient(client_call=["docker"])
    cli_version = "unknown"
    compose: str | None = None
    if detail:
        try:
            cli = client.version().client
            cli_version = getattr(cli, "version", None) or "unknown"
        except Exception:
            pass
        try:
            compose = str(client.compose.version()).strip()
            m = re.search(r"v?(\d+\.\d+\.\d+)", compose)
            compose = m.group(1) if m else compose
        except Exception:
            compose = None
    try:
        info = client.system.info()
    except DockerException as e:
        text = (e.stderr or e.stdout or str(e)).strip().splitlines()
        return EngineFacts(cli=cli_version, error=text[-1] if text else "docker info failed", compose=compose)
    except Exception as e:  # a CLI that answers with something python-on-whales cannot parse
        return EngineFacts(cli=cli_version, error=str(e).splitlines()[0], compose=compose)
    return EngineFacts(
        cli=cli_version,
        reachable=True,
        server_version=info.server_version or "",
        mem_mib=int((info.mem_total or 0) // MIB),
        cpus=int(info.n_cpu or 0),
        operating_system=info.operating_system or "",
        root_dir=str(info.docker_root_dir or ""),
        arch=normalize_arch(info.architecture or ""),
        compose=compose,
    )


def tool_versions(names: tuple[str, ...] = ("k3d", "kubectl", "helm")) -> dict[str, str | None]:
    from devstack.engine.tools import run_tool

    args = {"k3d": ("version",), "kubectl": ("version", "--client"), "helm": ("version", "--short")}
    out: dict[str, str | None] = {}
    for name in names:
        if shutil.which(name) is None:
            out[name] = None
            continue
        try:
            text = run_tool(name, *args[name], timeout=10).stdout
            m = re.search(r"v?(\d+\.\d+\.\d+)", text)
            out[name] = m.group(1) if m else text.strip().splitlines()[0]
        except Exception:
            out[name] = "unknown"
    return out


def port_owners(ports: list[int], bind: str = "127.0.0.1") -> list[PortOwner]:
    """Which of `ports` something already listens on, and what. psutil names the process where the OS lets
    it (macOS hides other users' sockets without sudo); a bind test catches the rest."""
    wanted = set(ports)
    found: dict[int, str] = {}
    try:
        for c in psutil.net_connections(kind="inet"):
            if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port in wanted:
                owner = "unknown"
                if c.pid:
                    try:
                        owner = f"{psutil.Process(c.pid).name()} (pid {c.pid})"
                    except psutil.Error:
                        owner = f"pid {c.pid}"
                found.setdefault(c.laddr.port, owner)
    except (psutil.AccessDenied, PermissionError):
        pass
    for port in wanted - set(found):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            # like any server would: a port whose last connections linger in TIME_WAIT is free, a listener is not
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((bind if ":" not in bind else "127.0.0.1", port))
            except OSError as e:
                if e.errno in (errno.EADDRINUSE, errno.EACCES):
                    found[port] = "unknown"
    return [PortOwner(p, found[p]) for p in sorted(found)]


def disk_free(path: str) -> tuple[int, str]:
    """Free space where Docker keeps its data; on a Mac that path is inside the VM, so the home disk stands in."""
    import os

    for candidate in (path, os.path.expanduser("~")):
        if candidate and os.path.exists(candidate):
            return int(psutil.disk_usage(candidate).free // MIB), candidate
    return 0, path


def host_facts(
    ports: list[int] | None = None, bind: str = "127.0.0.1", with_tools: bool = True, detail: bool | None = None
) -> HostFacts:
    engine = engine_facts(detail=with_tools if detail is None else detail)
    free, where = disk_free(engine.root_dir)
    return HostFacts(
        arch=normalize_arch(platform.machine()),
        os=f"{platform.system()} {platform.release()}",
        host_mib=int(psutil.virtual_memory().total // MIB),
        cpus=psutil.cpu_count() or 0,
        disk_free_mib=free,
        disk_path=where,
        engine=engine,
        tools=tool_versions() if with_tools else {},
        busy_ports=tuple(port_owners(ports or [], bind)),
    )
