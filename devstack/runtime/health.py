"""Health in each service's own protocol, from the host, on top of Compose's healthchecks.

A probe answers one question ("does Kafka have all its brokers and carry a record round trip?") and returns a
`Probe` value; it never raises. `wait_healthy` runs every probe in parallel, each with a deadline sized to its
service, stretched while the service visibly makes progress (a slow laptop is not a failure), and cut short the
moment its container has exited."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import partial
from typing import Any

from devstack.planning.alerts import ActiveAlert, parse_alerts
from devstack.planning.context import context, planned
from devstack.planning.plan import Plan
from devstack.planning.targets import JobHealth, describe, parse_targets, summarize
from devstack.services import SERVICES
from devstack.services.probes import (
    AirflowHealth,
    HttpProbe,
    KafkaRoundTrip,
    PgQuery,
    ProbeSpec,
    PrometheusTargets,
    RedisPing,
    ShellHealthcheck,
    SparkWorkers,
    TlsHandshakes,
)


def probe_deadlines() -> dict[str, int]:
    """Seconds to healthy on a loaded 2-core laptop, measured on the test bed with headroom (each service's module;
    an add-on's from its declaration)."""
    return {n: s.deadline_s for n, s in SERVICES.items() if s.probe is not None}


# What a starting service waits on, in the order it meets them; `up --json` reports the seconds of each, so a
# slow start shows where its time went: Compose still (re)creating containers, its container not running yet
# (created, restarting), Compose's healthcheck not passed yet (its interval is the cadence), or devstack's own
# probe in the service's protocol not answering yet.
WAITED_ON = ("compose", "container", "healthcheck", "probe")


@dataclass(frozen=True)
class NotReady:
    """Why a service is not ready for its own probe yet: `phase` is one of WAITED_ON but "probe"."""

    phase: str
    detail: str


@dataclass(frozen=True)
class Probe:
    service: str
    ok: bool
    detail: str
    seconds: float = 0.0
    # seconds spent in each phase of WAITED_ON, in that order, for the phases it met (wait_healthy fills it)
    waited: tuple[tuple[str, float], ...] = ()


def _http(url: str, *, data: bytes | None = None, timeout: float = 5, headers: dict[str, str] | None = None) -> bytes:
    req = urllib.request.Request(url, data=data, headers=headers or {})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return bytes(r.read())


def _failed(e: Exception) -> str:
    return f"{type(e).__name__}: {str(e)[:160]}"


def run_http(spec: HttpProbe) -> tuple[bool, str]:
    for step in spec.steps:
        answer = _http(step.url, data=step.body, headers=dict(step.headers))
        if step.json:
            json.loads(answer)
        if step.expect is not None and answer.strip() != step.expect.encode():
            return False, step.fail or f"{step.url} did not answer {step.expect}"
    return True, spec.ok


def resp_command(host: str, port: int, password: str, *args: str, user: str = "default") -> bytes:
    """One Redis command after AUTH as `user`, over a plain socket (RESP); enough for a probe and for tests."""
    with socket.create_connection((host, port), timeout=5) as s:

        def send(*parts: str) -> bytes:
            payload = f"*{len(parts)}\r\n" + "".join(f"${len(p.encode())}\r\n{p}\r\n" for p in parts)
            s.sendall(payload.encode())
            return s.recv(65536)

        auth = send("AUTH", user, password)
        if not auth.startswith(b"+OK"):
            raise PermissionError(auth.decode(errors="replace").strip())
        return send(*args)


def run_redis_ping(spec: RedisPing) -> tuple[bool, str]:
    pong = resp_command(spec.host, spec.port, spec.password, "PING", user=spec.user)
    return (True, f"AUTH as {spec.user} + PING") if pong.startswith(b"+PONG") else (False, str(pong))


def run_pg_query(spec: PgQuery) -> tuple[bool, str]:
    import pg8000.native

    conn = pg8000.native.Connection(
        spec.user, host=spec.host, port=spec.port, password=spec.password, database=spec.database, timeout=5
    )
    try:
        dbs = {r[0] for r in conn.run("SELECT datname FROM pg_database")}
    finally:
        conn.close()
    missing = [d for d in spec.databases if d not in dbs]
    if missing:
        return False, f"databases missing: {', '.join(missing)}"
    return True, f"a query as {spec.user}"


def run_kafka(spec: KafkaRoundTrip, *, round_trip: bool = True) -> tuple[bool, str]:
    from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic

    from devstack.services.kafka import Login

    quiet = Login(spec.bootstrap, spec.user, spec.password).config()
    topic = spec.topic
    admin = AdminClient(dict(quiet))
    md = admin.list_topics(timeout=5)
    if len(md.brokers) < spec.brokers:
        return False, f"{len(md.brokers)} of {spec.brokers} brokers in the cluster metadata"
    if md.controller_id < 0:
        return False, "no active controller: the KRaft quorum has no leader yet"
    if not round_trip:
        return True, f"{len(md.brokers)} brokers, controller {md.controller_id}"
    rf = min(3, spec.brokers)
    if topic not in md.topics:
        fut = admin.create_topics([NewTopic(topic, 1, rf)], operation_timeout=10)[topic]
        try:
            fut.result(timeout=15)
        except KafkaException as e:
            if "TOPIC_ALREADY_EXISTS" not in str(e):
                raise
    token = uuid.uuid4().hex.encode()
    prod = Producer({**quiet, "acks": "all"})
    prod.produce(topic, token)
    if prod.flush(15) != 0:
        return False, "a record could not be written (acks=all)"
    cons = Consumer({**quiet, "group.id": "devstack-health", "enable.auto.commit": False})
    try:
        low, high = cons.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        cons.assign([TopicPartition(topic, 0, max(low, high - 1))])
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            msg = cons.poll(1)
            if msg is not None and not msg.error() and msg.value() == token:
                return True, (
                    f"{len(md.brokers)} brokers, controller {md.controller_id}, "
                    f"round trip on a topic with replication {rf}"
                )
    finally:
        cons.close()
    return False, "a record written was not read back"


# Airflow 3.1 calls its DAG processor alive only if it heartbeated within 2.1 x job_heartbeat_sec (10.5 s by
# default), while the scheduler and triggerer get 30 s; one slow loop on a loaded 2-core machine (a Spark job
# next to it) flips it to unhealthy for a moment (apache/airflow#58667; later releases gained
# `[dag_processor] health_check_threshold`, default 30). devstack judges it by the scheduler's threshold: a
# heartbeat at most this old, read against the API server's own clock. Compose's healthcheck (`airflow jobs
# check`, 10 retries) rides out the same flaps.
AIRFLOW_HEARTBEAT_S = 30
AIRFLOW_COMPONENTS = ("metadatabase", "scheduler", "dag_processor", "triggerer")


def airflow_not_healthy(health: dict[str, Any], now: datetime) -> list[str]:
    """The components of Airflow's /monitor/health answer that are not healthy, `now` being the server's time."""
    bad = []
    for name in AIRFLOW_COMPONENTS:
        part = health.get(name) or {}
        if part.get("status") == "healthy":
            continue
        beat = part.get(f"latest_{name}_heartbeat")
        if name == "dag_processor" and beat:
            when = datetime.fromisoformat(beat)
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            if (now - when).total_seconds() < AIRFLOW_HEARTBEAT_S:
                continue
        bad.append(name)
    return bad


def run_airflow(spec: AirflowHealth) -> tuple[bool, str]:
    with urllib.request.urlopen(spec.url, timeout=5) as r:
        health = json.loads(r.read())
        date = r.headers.get("Date")
    # the container's clock, not the host's: Docker Desktop's VM clock can drift from the Mac's
    now = parsedate_to_datetime(date) if date else datetime.now(UTC)
    bad = airflow_not_healthy(health, now)
    if bad:
        return False, f"not healthy yet: {', '.join(bad)}"
    return True, "metadatabase, scheduler and DAG processor healthy"


def run_spark(spec: SparkWorkers) -> tuple[bool, str]:
    st = json.loads(_http(spec.url))
    alive = [w for w in st.get("workers", []) if w.get("state") == "ALIVE"]
    if st.get("status") != "ALIVE":
        return False, f"master is {st.get('status')}"
    if not alive:
        return False, "master ALIVE, no worker registered yet"
    if alive[0].get("memory") != spec.memory_mib:
        return False, f"worker offers {alive[0].get('memory')} MiB, the plan says {spec.memory_mib}"
    return True, f"master ALIVE, worker registered with {spec.memory_mib} MiB"


def _scraper_base(plan: Plan) -> str:
    """The base URL of the planned service that scrapes the stack (Prometheus)."""
    for s in planned(plan):
        if s.scrapes:
            ep = s.endpoint(context(plan, s.name))
            if ep is not None:
                return ep.url
    raise LookupError("no service in the plan scrapes metrics")


def prometheus_targets(plan: Plan, timeout: float = 5) -> list[JobHealth]:
    """Prometheus's scrape targets, per job of the rendered prometheus.yml (and any other it has), from its
    /api/v1/targets. Raises on a connection error or an answer that is not the targets document."""
    from devstack.render.project import ON_DEMAND_JOBS, scrape_jobs

    doc = json.loads(_http(f"{_scraper_base(plan)}/api/v1/targets?state=active", timeout=timeout))
    expected = [str(j["job_name"]) for j in scrape_jobs(plan) if j["job_name"] not in ON_DEMAND_JOBS]
    return summarize(parse_targets(doc), expected)


def prometheus_alerts(plan: Plan, timeout: float = 5) -> list[ActiveAlert]:
    """The alerts Prometheus's rules hold active (pending or firing), from its /api/v1/alerts. Raises on a
    connection error or an answer that is not the alerts document."""
    return parse_alerts(json.loads(_http(f"{_scraper_base(plan)}/api/v1/alerts", timeout=timeout)))


def reload_prometheus(plan: Plan, timeout: float = 10) -> None:
    """Have Prometheus read prometheus.yml again (its lifecycle API, on in compose/prometheus.yaml): a new scrape
    job reaches a running Prometheus without a restart, and its data and targets' state stay. Raises on a
    connection error or a config Prometheus refuses (its answer names the error)."""
    _http(f"{_scraper_base(plan)}/-/reload", data=b"", timeout=timeout)


def run_prometheus(spec: PrometheusTargets, plan: Plan) -> tuple[bool, str]:
    """Prometheus is healthy when it is ready and answers its targets API. A target that is down does not make
    Prometheus unhealthy (that is the scraped service's problem, and `status` shows it per job); it is named."""
    _http(f"{spec.base}/-/ready")
    return True, "ready, " + describe(prometheus_targets(plan))


def run_tls(spec: TlsHandshakes) -> tuple[bool, str]:
    import socket
    import ssl

    from cryptography import x509
    from cryptography.x509.oid import NameOID

    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the issuer is compared below; clients verify the chain against the CA
    version = ""
    for port in spec.ports:
        with socket.create_connection((spec.host, port), timeout=5) as raw, ctx.wrap_socket(raw) as tls:
            der = tls.getpeercert(binary_form=True)
            version = tls.version() or ""
        assert der is not None
        issuer = x509.load_der_x509_certificate(der).issuer.get_attributes_for_oid(NameOID.COMMON_NAME)
        name = str(issuer[0].value) if issuer else ""
        if not name.startswith(spec.issuer):
            return False, f"port {port} serves a certificate issued by {name!r}, not by a devstack CA"
    return True, f"{version} on {len(spec.ports)} ports, with the stack's certificate"


def run_probe(spec: ProbeSpec, plan: Plan, *, quick: bool = False) -> tuple[bool, str]:
    """Ask a service what its probe says to ask; raises on a connection error (probe() turns it into a Probe).
    `quick`: no round trip through Kafka (status asks often)."""
    if isinstance(spec, HttpProbe):
        return run_http(spec)
    if isinstance(spec, RedisPing):
        return run_redis_ping(spec)
    if isinstance(spec, PgQuery):
        return run_pg_query(spec)
    if isinstance(spec, KafkaRoundTrip):
        return run_kafka(spec, round_trip=not quick)
    if isinstance(spec, SparkWorkers):
        return run_spark(spec)
    if isinstance(spec, AirflowHealth):
        return run_airflow(spec)
    if isinstance(spec, ShellHealthcheck):
        # wait_healthy probes only once Compose calls the container healthy, and that is this command's answer
        return True, f"its Compose healthcheck: {spec.command}"
    if isinstance(spec, PrometheusTargets):
        return run_prometheus(spec, plan)
    if isinstance(spec, TlsHandshakes):
        return run_tls(spec)
    raise TypeError(f"no runner for {type(spec).__name__}")


def probe(plan: Plan, secrets: dict[str, str], name: str, *, quick: bool = False) -> Probe:
    """One service's probe, once; never raises."""
    service = SERVICES[name]
    assert service.probe is not None, f"{name} has no probe"
    try:
        ok, detail = run_probe(service.probe(context(plan, name, secrets=secrets)), plan, quick=quick)
    except Exception as e:
        return Probe(name, False, _failed(e))
    return Probe(name, ok, detail)


# service -> its probe as `wait_healthy` runs it, for the built-in services (a test may put a script in its place);
# an add-on's is looked up when it is probed (probe_of)
PROBES: dict[str, Callable[[Plan, dict[str, str]], Probe]] = {
    n: partial(probe, name=n) for n, s in SERVICES.items() if s.probe is not None
}


def probe_of(name: str) -> Callable[[Plan, dict[str, str]], Probe] | None:
    if name in PROBES:
        return PROBES[name]
    return partial(probe, name=name) if name in SERVICES and SERVICES[name].probe is not None else None


def probe_once(plan: Plan, secrets: dict[str, str], services: list[str] | None = None) -> dict[str, Probe]:
    """Every probe once, in parallel (for `status`): no waiting, no round trip through Kafka."""
    names = [n for n in (services or plan.names()) if probe_of(n) is not None]

    def one(n: str) -> Probe:
        t0 = time.monotonic()
        p = probe(plan, secrets, n, quick=True)
        return Probe(p.service, p.ok, p.detail, time.monotonic() - t0)

    with ThreadPoolExecutor(max_workers=max(1, len(names))) as pool:
        return dict(zip(names, pool.map(one, names), strict=True))


def wait_healthy(
    plan: Plan,
    secrets: dict[str, str],
    *,
    exited: Callable[[str], str | None],
    progressing: Callable[[str], bool],
    on_update: Callable[[Probe], None] = lambda p: None,
    not_ready: Callable[[str], NotReady | None] = lambda n: None,
    interval: float = 1.0,
    deadlines: dict[str, int] | None = None,
) -> dict[str, Probe]:
    """Probe every Compose service until healthy. `exited(service)` says why its container stopped (fail at
    once); `progressing(service)` says whether it is still starting (stretch the deadline, up to three times,
    so a slow start is not mistaken for a dead one); `not_ready(service)` says why Compose's own healthchecks
    do not agree yet: a probe can pass early, e.g. Kafka's metadata lists a killed broker until its session
    times out, so both must agree. Each returned Probe says how long it waited on what (WAITED_ON)."""
    probes = {n: p for n in plan.names() if (p := probe_of(n)) is not None}
    names = list(probes)
    limits = {**probe_deadlines(), **(deadlines or {})}

    def watch(n: str) -> Probe:
        t0 = time.monotonic()
        deadline = t0 + limits[n]
        hard = t0 + 3 * limits[n]
        spent: dict[str, float] = {}
        mark = t0

        def done(ok: bool, detail: str) -> Probe:
            waited = tuple((ph, round(spent[ph], 1)) for ph in WAITED_ON if ph in spent)
            return Probe(n, ok, detail, time.monotonic() - t0, waited)

        while True:
            why = exited(n)
            if why:
                last = done(False, why)
                on_update(last)
                return last
            # Compose's healthchecks first (one engine call for all services): a probe runs only once they pass,
            # which keeps a starting stack free of probe traffic on a small machine
            why_not = not_ready(n)
            p = Probe(n, False, why_not.detail) if why_not else probes[n](plan, secrets)
            # the time since the last look goes to what this look found the service waiting on
            now = time.monotonic()
            phase = why_not.phase if why_not else "probe"
            spent[phase] = spent.get(phase, 0.0) + now - mark
            mark = now
            last = done(p.ok, p.detail)
            on_update(last)
            if p.ok:
                return last
            if now >= deadline:
                if now < hard and progressing(n):
                    deadline = min(hard, now + 30)
                else:
                    return done(False, f"not healthy after {now - t0:.0f}s: {p.detail}")
            time.sleep(interval)

    with ThreadPoolExecutor(max_workers=max(1, len(names))) as pool:
        return dict(zip(names, pool.map(watch, names), strict=True))
