"""Doctor: host facts judged against a plan. Pure: facts in, findings (ok / warning / error, each with its fix) out."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum

from devstack.core.units import fmt_mib
from devstack.planning.catalog import CATALOG
from devstack.planning.plan import engine_reserve
from devstack.runtime.engine.tools import MIN_VERSIONS, min_version
from devstack.runtime.host import HostFacts

MIN_COMPOSE = (2, 20, 0)  # `up --wait` and `config --format json` as devstack uses them


class Level(StrEnum):
    OK = "ok"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True)
class Finding:
    check: str
    level: Level
    detail: str
    fix: str = ""

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def _ver(text: str | None) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in (text or "").split(".")[:3])
    except ValueError:
        return ()


def _engine_settings_hint(facts: HostFacts) -> str:
    if facts.engine.is_desktop:
        return "Docker Desktop: Settings > Resources > Memory"
    if "colima" in facts.engine.operating_system.lower():
        return "colima stop && colima start --memory <GiB>"
    return "give the Docker host more memory"


def diagnose(
    facts: HostFacts, *, profile: str, floors_mib: int, budget_mib: int | None, ports: dict[int, str], needs_k3d: bool
) -> list[Finding]:
    """Judge the facts for a profile whose floors need `floors_mib` and whose plan wants `budget_mib`.

    `ports` maps every host port the plan publishes to the service that wants it. One check a function, in the
    order a person reads them: the machine, Docker, disk, ports, the k3d tools, images for the arch."""
    return [
        *_host(facts),
        *_engine(facts, profile, floors_mib, budget_mib),
        *_compose(facts),
        *_disk(facts),
        *_ports(facts, ports),
        *_tools(facts, needs_k3d),
        *_images(facts),
    ]


def _host(facts: HostFacts) -> list[Finding]:
    arch_note = "Apple Silicon: images must publish linux/arm64" if facts.arch == "arm64" else ""
    level = Level.OK if facts.host_mib >= 16 * 1024 else Level.WARNING
    return [
        Finding("cpu arch", Level.OK, f"{facts.arch} {arch_note}".strip()),
        Finding(
            "host memory",
            level,
            f"{fmt_mib(facts.host_mib)} RAM, {facts.cpus} CPUs",
            "" if level is Level.OK else "the full profile wants a 32 GB machine; use --profile minimal.",
        ),
    ]


def _engine(facts: HostFacts, profile: str, floors_mib: int, budget_mib: int | None) -> list[Finding]:
    e = facts.engine
    if e.cli is None:
        return [
            Finding(
                "docker",
                Level.ERROR,
                "the docker CLI is not installed.",
                "install Docker Desktop (macOS) or docker.io / Docker Engine (Linux).",
            )
        ]
    if not e.reachable:
        fix = (
            "start Docker Desktop and wait for it to say it is running."
            if facts.os.startswith("Darwin")
            else "start the engine: sudo systemctl start docker (or start dockerd)."
        )
        return [Finding("docker engine", Level.ERROR, f"Docker is not running: {e.error}", fix)]
    out = [
        Finding(
            "docker engine",
            Level.OK,
            f"Docker {e.server_version} on {e.operating_system or 'unknown OS'}, "
            f"{fmt_mib(e.mem_mib)} memory, {e.cpus} CPUs",
        ),
        _engine_memory(facts, profile, floors_mib, budget_mib),
    ]
    if e.arch and facts.arch and e.arch != facts.arch:
        out.append(
            Finding(
                "engine arch",
                Level.WARNING,
                f"the engine runs {e.arch} on a {facts.arch} host",
                "use a native engine: emulation is slow and uses more memory.",
            )
        )
    return out


def _engine_memory(facts: HostFacts, profile: str, floors_mib: int, budget_mib: int | None) -> Finding:
    e = facts.engine
    usable = e.mem_mib - engine_reserve(e.mem_mib)
    where = "Docker Desktop gives its VM" if e.is_desktop else "The Docker engine has"
    if usable < floors_mib:
        return Finding(
            "engine memory",
            Level.ERROR,
            f"{where} {fmt_mib(e.mem_mib)}; the {profile} profile needs at least "
            f"{fmt_mib(floors_mib + engine_reserve(e.mem_mib))}.",
            f"{_engine_settings_hint(facts)}, or use a smaller profile (--profile minimal).",
        )
    if budget_mib is not None and usable < budget_mib:
        return Finding(
            "engine memory",
            Level.WARNING,
            f"{where} {fmt_mib(e.mem_mib)}; the plan's budget is {fmt_mib(budget_mib)}.",
            f"{_engine_settings_hint(facts)} to {fmt_mib(budget_mib + engine_reserve(e.mem_mib))},"
            " or plan with a smaller --budget.",
        )
    return Finding(
        "engine memory",
        Level.OK,
        f"{fmt_mib(usable)} usable for containers; the {profile} profile needs at least {fmt_mib(floors_mib)}",
    )


def _compose(facts: HostFacts) -> list[Finding]:
    e = facts.engine
    if e.cli is None:
        return []
    if e.compose is None:
        return [
            Finding(
                "compose",
                Level.ERROR,
                "Docker Compose v2 (`docker compose`) is missing.",
                "install the Compose plugin (Docker Desktop has it; apt-get install docker-compose-plugin).",
            )
        ]
    if _ver(e.compose) and _ver(e.compose) < MIN_COMPOSE:
        return [
            Finding(
                "compose",
                Level.ERROR,
                f"Docker Compose {e.compose} is too old.",
                f"upgrade to {'.'.join(map(str, MIN_COMPOSE))} or newer.",
            )
        ]
    return [Finding("compose", Level.OK, f"Docker Compose {e.compose}")]


def _disk(facts: HostFacts) -> list[Finding]:
    gib = facts.disk_free_mib / 1024
    where = f"{gib:.0f} GiB free at {facts.disk_path}"
    if gib < 10:
        return [Finding("disk", Level.ERROR, where, "free disk space: docker system prune, or remove unused images.")]
    if gib < 30:
        return [
            Finding(
                "disk",
                Level.WARNING,
                f"{where}; the seed asks for 100 GB",
                "free disk space before pulling the full profile's images.",
            )
        ]
    return [Finding("disk", Level.OK, where)]


def _ports(facts: HostFacts, ports: dict[int, str]) -> list[Finding]:
    out = []
    for p in facts.busy_ports:
        who = ports.get(p.port, "devstack")
        holder = p.owner if p.owner != "unknown" else "another process"
        if p.owner.startswith("docker container "):
            fix = f"stop it: docker stop {p.owner.removeprefix('docker container ')}"
        elif "docker" in p.owner:
            fix = f"stop it (it is a container: docker ps --filter publish={p.port})"
        else:
            fix = f"stop it (find it with: lsof -nP -iTCP:{p.port} -sTCP:LISTEN)"
        out.append(
            Finding(
                f"port {p.port}",
                Level.ERROR,
                f"{who} needs port {p.port}, held by {holder}.",
                f"{fix}, or move {who} with services.{who.split('.')[0]}.ports in devstack.yaml.",
            )
        )
    if not facts.busy_ports and ports:
        out.append(Finding("ports", Level.OK, f"{len(ports)} ports free"))
    return out


# why each tool's minimum, said with its upgrade
_TOOL_NEED = {
    "k3d": "config k3d.io/v1alpha5",
    "kubectl": "devstack's k3d cluster needs it",
    "helm": "devstack's k3d cluster needs it",
}


def _tools(facts: HostFacts, needs_k3d: bool) -> list[Finding]:
    out = []
    for tool in ("k3d", "kubectl", "helm"):
        if tool not in facts.tools:
            continue
        v = facts.tools[tool]
        if v is None:
            out.append(
                Finding(
                    tool,
                    Level.ERROR if needs_k3d else Level.OK,
                    f"{tool} is not installed" + ("" if needs_k3d else " (only seldon needs it)"),
                    f"install {tool}" if needs_k3d else "",
                )
            )
        elif _ver(v) and _ver(v) < MIN_VERSIONS[tool]:
            out.append(
                Finding(
                    tool,
                    Level.ERROR if needs_k3d else Level.WARNING,
                    f"{tool} {v} is too old",
                    f"upgrade to {tool} {min_version(tool)}+ ({_TOOL_NEED[tool]}).",
                )
            )
        else:
            out.append(Finding(tool, Level.OK, f"{tool} {v}"))
    return out


def _images(facts: HostFacts) -> list[Finding]:
    if facts.arch != "arm64":
        return []
    return [
        Finding(
            f"image {spec.name}",
            Level.WARNING,
            f"{image.ref} publishes no arm64 image: it runs under emulation",
            image.note or "devstack builds an arm64 replacement where it can.",
        )
        for spec in CATALOG.values()
        for image in spec.images.values()
        if "linux/arm64" not in image.platforms and not image.devstack_build
    ]


def worst(findings: list[Finding]) -> Level:
    levels = {f.level for f in findings}
    return Level.ERROR if Level.ERROR in levels else Level.WARNING if Level.WARNING in levels else Level.OK
