"""Health probes as data: what to ask a service, in its own protocol. A service's `probe(ctx)` returns one of
these; `devstack/runtime/health.py` runs it (the I/O lives there) and turns the answer into a Probe. A new service picks
the kind that fits; a new protocol is a new kind here and its runner in health.py."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HttpStep:
    """One request: GET, or POST `body`; the answer must be `expect` (stripped) when given, JSON with `json`."""

    url: str
    expect: str | None = None
    body: bytes | None = None
    headers: tuple[tuple[str, str], ...] = ()
    json: bool = False
    fail: str = ""  # the detail when the answer is not `expect`


@dataclass(frozen=True)
class HttpProbe:
    """Every step answers as expected, in order; `ok` is the detail when they do."""

    steps: tuple[HttpStep, ...]
    ok: str


@dataclass(frozen=True)
class RedisPing:
    """AUTH as the user with the password, then PING answers PONG (RESP over a plain socket)."""

    host: str
    port: int
    password: str
    user: str = "default"


@dataclass(frozen=True)
class PgQuery:
    """Log in and list the databases; each of `databases` must exist."""

    host: str
    port: int
    user: str
    password: str
    database: str
    databases: tuple[str, ...] = ()


@dataclass(frozen=True)
class KafkaRoundTrip:
    """Every broker in the metadata, a controller elected, and (unless quick) a record written with acks=all to
    `topic` and read back."""

    bootstrap: str
    brokers: int
    topic: str
    user: str  # the SASL principal it signs in as, and its password
    password: str


@dataclass(frozen=True)
class SparkWorkers:
    """The master is ALIVE and a worker registered with the memory the plan gave it."""

    url: str  # the master's /json/ status
    memory_mib: int


@dataclass(frozen=True)
class AirflowHealth:
    """Airflow's /monitor/health: metadatabase, scheduler, DAG processor and triggerer healthy."""

    url: str


@dataclass(frozen=True)
class PrometheusTargets:
    """Prometheus is ready and answers its targets API (targets that are down are named, not failed)."""

    base: str


@dataclass(frozen=True)
class ShellHealthcheck:
    """The service is judged by its Compose healthcheck, a shell command inside its container: health waits for
    Compose to call it healthy before any probe, so nothing more is asked (an add-on's `health: {command}`)."""

    command: str


@dataclass(frozen=True)
class TlsHandshakes:
    """A TLS handshake completes on each port, with a certificate a devstack CA issued (its issuer's common name
    starts with `issuer`). The chain is checked by the clients that trust the CA; this asks whether the proxy is up
    and serves the stack's certificate rather than another."""

    host: str
    ports: tuple[int, ...]
    issuer: str


ProbeSpec = (
    ShellHealthcheck
    | TlsHandshakes
    | HttpProbe
    | RedisPing
    | PgQuery
    | KafkaRoundTrip
    | SparkWorkers
    | AirflowHealth
    | PrometheusTargets
)
