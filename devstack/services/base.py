"""What devstack knows about a service, as data: the types every service module fills in.

A service module (`devstack/services/<name>.py`) holds everything about one service: its catalog entry (image,
ports, memory floor / seed target / ceiling), how a memory limit becomes its knobs, the `.env` values and config
files it renders, where it answers from the host and which variables its clients read, its health probe (data:
`probes.py` says what to ask, `health.py` asks it), its deadline, its scrape jobs and exporter, and the hint a
failed start prints. Render, health, endpoints and the planner iterate over the registry
(`devstack/services/__init__.py`) instead of branching on names.

Pure: no Docker, no host, no terminal. A service sees the plan through `Ctx`, a frozen view (its own allocation,
the other planned services, the bind address, the stack's secrets), so it never imports the planner.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from devstack.core.knobs import Sized

if TYPE_CHECKING:
    from devstack.services.probes import ProbeSpec


class Group(StrEnum):
    """The seed's four budget groups ("Resource Management": 12 / 8 / 4 / 4 GB of a 28 GB peak)."""

    DATA_PROCESSING = "data-processing"
    MODEL_TRAINING = "model-training"
    STORAGE = "storage"
    ORCHESTRATION = "orchestration"


# The seed's split of its 28 GB peak, used to report each group's share next to what the plan gives it.
SEED_GROUP_SHARE_MIB: dict[Group, int] = {
    Group.DATA_PROCESSING: 12 * 1024,
    Group.MODEL_TRAINING: 8 * 1024,
    Group.STORAGE: 4 * 1024,
    Group.ORCHESTRATION: 4 * 1024,
}
SEED_PEAK_MIB = 28 * 1024

MULTI_ARCH = ("linux/amd64", "linux/arm64")
AMD64_ONLY = ("linux/amd64",)


class Runtime(StrEnum):
    COMPOSE = "compose"
    K3D = "k3d"


@dataclass(frozen=True)
class Image:
    """An image reference with the platforms its publisher builds, so arm64 hosts can be warned."""

    ref: str
    platforms: tuple[str, ...] = MULTI_ARCH
    note: str = ""
    # devstack runs its own build of it (k3d/images/<recipe>) on every architecture, never the publisher's: the
    # publisher's build differs where it matters (MLServer: numpy 1.26 cannot load the DAG's numpy 2 pickles)
    devstack_build: bool = False


@dataclass(frozen=True)
class Port:
    """A port published on the host (127.0.0.1 by default).

    A port with `tls_of` is the TLS twin of the service's port of that name: published only when the plan has the
    TLS proxy (services/tls.py), by the proxy, which ends TLS with the stack's certificate and forwards the bytes to
    `target` (the Compose service, `{i}` for a replica's number) on `container`. Most forward to the plain port's
    own container port; a protocol that hands clients addresses (Kafka) forwards to a listener that advertises the
    twin."""

    name: str
    container: int
    host: int
    scheme: str = "http"  # how to print a URL: http, tcp, kafka, postgresql, redis, spark (https, rediss: TLS)
    tls_of: str = ""
    target: str = ""

    @property
    def per_replica(self) -> bool:
        """Each replica publishes its own (Kafka's brokers)."""
        return self.name == "broker" or self.tls_of == "broker"


@dataclass(frozen=True)
class Memory:
    """Per-replica memory in MiB: below `floor` the service does not start or falls over; `target` is the seed's
    figure; `ceiling` is where more memory stops helping on a laptop."""

    floor: int
    target: int
    ceiling: int


@dataclass(frozen=True)
class Exporter:
    """A Prometheus exporter for a service that exposes no metrics of its own (Kafka, Redis).

    The watched service declares it (its module knows what to export); it is a container of the service that
    scrapes it (Prometheus), not of the service it watches: it runs only when both are planned, and its fixed,
    small limit is part of Prometheus's memory, so every container stays inside the plan. A Go exporter's
    footprint does not grow with the budget, hence a fixed figure rather than a share."""

    container: str  # Compose service name, also the Compose profile that switches it on
    watches: str  # the catalog service it exports
    image_key: str  # key into the scraping service's images (DEVSTACK_IMAGE_<KEY>)
    port: int  # where Prometheus scrapes it on the Compose network (not published on the host)
    memory_mib: int  # its container's limit
    image: Image | None = None  # its image, added to the scraping service's images by the registry
    # the exporter's generated config files (path in the stack dir -> text), given the watched service's Ctx
    config: Callable[[Ctx], dict[str, str]] | None = None
    # its scrape job's name; "" names it after the watched service (one that watches the scraper itself needs one)
    job: str = ""


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    title: str
    group: Group
    priority: int  # 1 = the platform is useless without it, 3 = nice to have; higher priority fills first
    memory: Memory
    images: dict[str, Image]  # image key (DEVSTACK_IMAGE_<KEY>) -> image
    ports: tuple[Port, ...] = ()
    depends_on: tuple[str, ...] = ()
    runtime: Runtime = Runtime.COMPOSE
    compose_file: str | None = None
    replicas: int = 1  # the seed's count
    min_replicas: int = 1
    max_replicas: int = 1
    # Compose services (containers) this catalog service runs, with the share of its memory each gets.
    containers: dict[str, float] = field(default_factory=dict)
    user: str | None = None  # the user name devstack creates for it, shown in the endpoint table
    summary: str = ""
    exporters: tuple[Exporter, ...] = ()  # run beside it for services planned alongside it
    # the Compose file's text when devstack generates it (an add-on), rather than shipping compose/<compose_file>
    generated_compose: Callable[[], str] | None = None  # called when rendered: plan needs no YAML


# a Compose service named so runs once and exits (Airflow's migration): `up` waits for it to complete, status does
# not count it as down, restart leaves it alone
ONE_SHOT_SUFFIX = "-init"


def is_one_shot(container: str) -> bool:
    return container.endswith(ONE_SHOT_SUFFIX)


@dataclass(frozen=True)
class Endpoint:
    service: str
    url: str  # what a person opens or a client dials
    user: str = ""
    secret_key: str = ""  # which secret (name in secrets.json) is its password, never the value
    extra: dict[str, str] = field(default_factory=dict)
    page: str = ""  # the web page a person opens for it, where that is not `url` or its UI/console extra
    ca: str = ""  # the CA file a TLS client trusts, when `url` is a TLS twin's (services/tls.py)


@dataclass(frozen=True)
class Secret:
    """A secret of the stack (secrets.json), made once and kept across renders."""

    name: str
    env: str | None = None  # the .env variable that hands it to Compose, if any
    kind: str = "token"  # token (url-safe random), fernet (a Fernet key), uuid (a Kafka cluster id)


class Planned(Protocol):
    """What a service sees of its own allocation in the plan (the planner's ServicePlan has these)."""

    @property
    def name(self) -> str: ...
    @property
    def replicas(self) -> int: ...
    @property
    def containers(self) -> dict[str, int]: ...
    @property
    def knobs(self) -> dict[str, str]: ...
    @property
    def ports(self) -> dict[str, list[int]]: ...
    @property
    def images(self) -> dict[str, str]: ...


# the TLS proxy's service name (services/tls.py), which base.Ctx asks about
TLS = "tls"
# where the plain ports go when the TLS proxy takes the bind address
LOOPBACK = "127.0.0.1"
# a port's TLS twin is named after it, with this suffix (its `tls_of`), and a URL of it takes the TLS scheme
TLS_SUFFIX = "-tls"
TLS_SCHEMES = {"http": "https", "redis": "rediss", "tcp": "tls"}


def host_address(bind: str) -> str:
    """Where a client on the host dials a port published on `bind`: a wildcard bind answers on loopback."""
    return "127.0.0.1" if bind in ("0.0.0.0", "::") else bind


@dataclass(frozen=True)
class Ctx:
    """A frozen view of the plan for one service: its allocation, the others planned beside it, and the stack."""

    me: Planned
    planned: Mapping[str, Planned]  # every planned service by name, this one included
    bind: str = "127.0.0.1"
    project: str = ""
    secrets: Mapping[str, str] = field(default_factory=dict)
    # the stack's Prometheus scrape jobs, alert rule groups and alert receivers, for the service that writes them
    # into its config
    scrape_jobs: tuple[dict[str, object], ...] = ()
    alert_rules: tuple[dict[str, object], ...] = ()
    alert_receivers: tuple[str, ...] = ()
    # every planned service's declared ports (its spec's), for the TLS proxy, which publishes the others' twins
    port_specs: Mapping[str, tuple[Port, ...]] = field(default_factory=dict)
    # the addresses a client on the host gets are the TLS twins' where a port has one (`devstack env` with the
    # TLS proxy planned); devstack's own clients dial the plain ports on 127.0.0.1
    via_tls: bool = False

    @property
    def host(self) -> str:
        return host_address(self.bind)

    def port(self, name: str) -> int:
        """The host port of this service's port `name` (the first replica's)."""
        return self.me.ports[name][0]

    def _twin(self, name: str) -> str | None:
        twin = f"{name}{TLS_SUFFIX}"
        return twin if self.via_tls and twin in self.me.ports else None

    def url(self, name: str, path: str = "", scheme: str = "http") -> str:
        """A client's URL of port `name`: its TLS twin's (https, rediss) when `via_tls` and the port has one."""
        twin = self._twin(name)
        port = self.me.ports[twin or name][0]
        return f"{TLS_SCHEMES.get(scheme, scheme) if twin else scheme}://{self.host}:{port}{path}"

    def addresses(self, name: str) -> list[str]:
        """host:port of port `name` for each replica (Kafka's brokers), the TLS twins' when `via_tls`."""
        return [f"{self.host}:{p}" for p in self.me.ports[self._twin(name) or name]]

    def over_tls(self, name: str) -> bool:
        """A client dials port `name`'s TLS twin."""
        return self._twin(name) is not None

    @property
    def plain_bind(self) -> str:
        """Where the plain ports are published: the bind address, or loopback when the TLS proxy takes it."""
        return LOOPBACK if self.tls else self.bind

    @property
    def tls(self) -> bool:
        """The plan has the TLS proxy: each port with a TLS twin is reachable through it too."""
        return TLS in self.planned

    def has(self, name: str) -> bool:
        return name in self.planned


def _nothing(ctx: Ctx) -> dict[str, str]:
    return {}


def _no_list(ctx: Ctx) -> list[str]:
    return []


def _no_jobs(ctx: Ctx) -> list[dict[str, object]]:
    return []


def _no_endpoint(ctx: Ctx) -> Endpoint | None:
    return None


def _no_client_env(ep: Endpoint, secrets: Mapping[str, str]) -> dict[str, str]:
    return {}


def mem(mib: int) -> str:
    """A memory limit as Compose and the JVM read it."""
    return f"{mib}m"


def env_key(*parts: str) -> str:
    """A `.env` variable name: DEVSTACK_ and the parts, upper case, with - and . as _."""
    return "_".join(["DEVSTACK", *(p.upper().replace("-", "_").replace(".", "_") for p in parts)])


def port_env_key(service: str, port: str, replica: int | None = None) -> str:
    """The `.env` variable of a published host port: DEVSTACK_<SVC>_PORT_<NAME>; a port each replica publishes
    (Kafka's brokers) has one per replica: DEVSTACK_KAFKA_PORT_<n>, DEVSTACK_KAFKA_BROKER_TLS_PORT_<n>."""
    if replica is None:
        return env_key(service, "port", port)
    return env_key(service, "port", str(replica)) if port == "broker" else env_key(service, port, "port", str(replica))


def container_env(me: Planned) -> dict[str, str]:
    """The `.env` memory limit of each of a service's containers (DEVSTACK_<CONTAINER>_MEM)."""
    return {env_key(c, "mem"): mem(mib) for c, mib in me.containers.items()}


@dataclass(frozen=True)
class Service:
    """One service: its catalog entry and its behaviour, each member a pure function of the plan's view."""

    spec: ServiceSpec
    size: Callable[[int, int], Sized]  # (limit of all replicas, replicas) -> containers and knobs
    deadline_s: int = 0  # seconds to healthy on a loaded 2-core laptop; 0 where devstack runs no probe
    hint: str = ""  # printed when it fails to start
    env: Callable[[Ctx], dict[str, str]] = _nothing  # `.env` values beyond its images and ports
    files: Callable[[Ctx], dict[str, str]] = _nothing  # generated configs: path in the stack dir -> text
    profiles: Callable[[Ctx], list[str]] = _no_list  # Compose profiles its optional containers need
    endpoint: Callable[[Ctx], Endpoint | None] = _no_endpoint
    client_env: Callable[[Endpoint, Mapping[str, str]], dict[str, str]] = _no_client_env  # what clients read
    probe: Callable[[Ctx], ProbeSpec] | None = None  # what health asks it, in its own protocol
    scrape_jobs: Callable[[Ctx], list[dict[str, object]]] = _no_jobs  # its native metrics endpoints
    exporter: Exporter | None = None  # the exporter Prometheus runs for it, when it has no metrics of its own
    secrets: tuple[Secret, ...] = ()  # the stack's secrets it owns (written to .env whether planned or not)
    alerts: tuple[AlertSpec, ...] = ()  # Prometheus alerting rules on its metrics
    receives_alerts: str | None = None  # where the scraper sends alerts to it, on the Compose network
    # the seed's figure for a knob inside it, reported when the plan gives less: (knob, MiB, what it is)
    seed_knob: tuple[str, int, str] | None = None
    # an add-on's declaration from devstack.yaml, kept in plan.json so later commands know the service
    declaration: Mapping[str, object] | None = None
    scrapes: bool = False  # it scrapes the others: it runs their exporters and writes the stack's scrape jobs

    @property
    def name(self) -> str:
        return self.spec.name


@dataclass(frozen=True)
class AlertSpec:
    """One Prometheus alerting rule a service declares, as data: devstack.yaml's `alerts:` may change its threshold
    and its `for`, or switch it off (render applies them, services/alert rules stay pure)."""

    name: str
    expr: str  # PromQL; {threshold} where the threshold goes, {project} the stack's Compose project
    summary: str  # may use the alert's labels ({{ $labels.job }}) and value ({{ $value }})
    wait: str = "1m"  # Prometheus's `for`: how long the expression holds before the alert fires
    severity: str = "warning"
    threshold: float | None = None  # the default for {threshold}; None: the rule takes none
    measures: str = ""  # what the threshold counts, for errors and the README (records, share of maxmemory)

    def rule(self, threshold: float | None = None, wait: str | None = None, project: str = "") -> dict[str, object]:
        value = self.threshold if threshold is None else threshold
        shown = "" if value is None else (str(int(value)) if float(value).is_integer() else str(value))
        return {
            "alert": self.name,
            "expr": self.expr.replace("{threshold}", shown).replace("{project}", project),
            "for": wait or self.wait,
            "labels": {"severity": self.severity},
            "annotations": {"summary": self.summary},
        }


def scrape_job(name: str, service: str, target: str, path: str | None = None) -> dict[str, object]:
    """One static Prometheus scrape job whose target carries a `service` label, so dashboards can group by it."""
    out: dict[str, object] = {"job_name": name}
    if path:
        out["metrics_path"] = path
    out["static_configs"] = [{"targets": [target], "labels": {"service": service}}]
    return out
