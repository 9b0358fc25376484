"""Host facts: what this machine and its Docker engine can give. Read-only inspection, never a change.

On a Mac the engine is Docker Desktop's (or colima's) Linux VM, and its memory, read from `docker info`, is the
real ceiling for the stack: host RAM only bounds what the VM may be given.
"""

from __future__ import annotations

import errno
import json
import os
import platform
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from typing import Any

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


def engine_facts() -> EngineFacts:
    """One `docker info`: every failure becomes a fact, never an exception.

    Its JSON answers everything devstack asks of the engine before a stack exists: memory, CPUs, arch and
    version of the server, and the CLI's own version and plugins (Compose) in `ClientInfo`. Through the CLI
    itself rather than python-on-whales: `plan` and `render` need these facts and nothing else from Docker, and
    importing a Docker client library cost them more than the call (issue 14.7); this was three CLI calls."""
    if shutil.which("docker") is None:
        return EngineFacts(error="the docker CLI is not installed")
    try:
        r = subprocess.run(
            ["docker", "info", "--format", "{{json .}}"], capture_output=True, text=True, timeout=30, check=False
        )
    except subprocess.TimeoutExpired:
        return EngineFacts(error="`docker info` did not answer within 30 s")
    try:
        info = json.loads(r.stdout) if r.stdout.strip() else {}
    except json.JSONDecodeError:
        info = {}
    lines = (r.stderr or "").strip().splitlines()
    return parse_docker_info(info, r.returncode, lines[-1] if lines else "")


def parse_docker_info(info: dict[str, Any], returncode: int = 0, stderr_line: str = "") -> EngineFacts:
    """`docker info --format '{{json .}}'` as EngineFacts. With the daemon down the CLI still prints its half
    (ClientInfo) and exits 1, the reason on stderr."""
    client = info.get("ClientInfo") or {}
    compose = next((p.get("Version") for p in client.get("Plugins") or [] if p.get("Name") == "compose"), None)
    m = re.search(r"v?(\d+\.\d+\.\d+)", compose or "")
    cli, compose = client.get("Version") or "unknown", (m.group(1) if m else compose)
    errors = info.get("ServerErrors") or []
    if returncode != 0 or errors or not info.get("ServerVersion"):
        error = stderr_line or (errors[-1] if errors else "docker info failed")
        return EngineFacts(cli=cli, error=error, compose=compose)
    return EngineFacts(
        cli=cli,
        compose=compose,
        reachable=True,
        server_version=info.get("ServerVersion") or "",
        mem_mib=int((info.get("MemTotal") or 0) // MIB),
        cpus=int(info.get("NCPU") or 0),
        operating_system=info.get("OperatingSystem") or "",
        root_dir=str(info.get("DockerRootDir") or ""),
        arch=normalize_arch(info.get("Architecture") or ""),
    )


def tool_versions(names: tuple[str, ...] = ("k3d", "kubectl", "helm")) -> dict[str, str | None]:
    from devstack.runtime.engine.tools import run_tool

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
    if not wanted:
        return []
    import socket

    import psutil  # here, not at the top: `plan` asks for no port and needs none of it

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
    for candidate in (path, os.path.expanduser("~")):
        if candidate and os.path.exists(candidate):
            return int(shutil.disk_usage(candidate).free // MIB), candidate
    return 0, path


def memory_mib() -> int:
    """The host's RAM. The OS's own count (sysconf, on Linux and macOS alike) rather than psutil's: the same
    figure, without an import that cost `plan` a tenth of its start-up (issue 14.7)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // MIB)
    except (ValueError, OSError, AttributeError):  # a platform without those names
        import psutil

        return int(psutil.virtual_memory().total // MIB)


def host_facts(ports: list[int] | None = None, bind: str = "127.0.0.1", with_tools: bool = True) -> HostFacts:
    engine = engine_facts()
    free, where = disk_free(engine.root_dir)
    return HostFacts(
        arch=normalize_arch(platform.machine()),
        os=f"{platform.system()} {platform.release()}",
        host_mib=memory_mib(),
        cpus=os.cpu_count() or 0,
        disk_free_mib=free,
        disk_path=where,
        engine=engine,
        tools=tool_versions() if with_tools else {},
        busy_ports=tuple(port_owners(ports or [], bind)),
    )
