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
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from devstack.plan import Plan
from devstack.targets import JobHealth, describe, parse_targets, summarize

# seconds to healthy on a loaded 2-core laptop, measured on the test bed with headroom
DEADLINES = {
    "kafka": 180,
    "spark": 120,
    "clickhouse": 120,
    "postgres": 90,
    "minio": 90,
    "redis": 60,
    "mlflow": 240,
    "airflow": 300,
    "jupyter": 150,
    "prometheus": 90,
}
HEALTH_TOPIC = "_devstack_health"


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


def _port(plan: Plan, service: str, name: str) -> int:
    return plan.service(service).ports[name][0]


def _host(plan: Plan) -> str:
    return "127.0.0.1" if plan.bind in ("0.0.0.0", "::") else plan.bind


def probe_kafka(plan: Plan, secrets: dict[str, str], *, round_trip: bool = True) -> Probe:
    from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic

    k = plan.service("kafka")
    bootstrap = ",".join(f"{_host(plan)}:{p}" for p in k.ports["broker"])
    quiet: dict[str, Any] = {"bootstrap.servers": bootstrap, "log_level": 0, "logger": lambda *a: None}
    try:
        admin = AdminClient(dict(quiet))
        md = admin.list_topics(timeout=5)
        if len(md.brokers) < k.replicas:
            return Probe("kafka", False, f"{len(md.brokers)} of {k.replicas} brokers in the cluster metadata")
        if md.controller_id < 0:
            return Probe("kafka", False, "no active controller: the KRaft quorum has no leader yet")
        if not round_trip:
            return Probe("kafka", True, f"{len(md.brokers)} brokers, controller {md.controller_id}")
        rf = min(3, k.replicas)
        if HEALTH_TOPIC not in md.topics:
            fut = admin.create_topics([NewTopic(HEALTH_TOPIC, 1, rf)], operation_timeout=10)[HEALTH_TOPIC]
            try:
                fut.result(timeout=15)
            except KafkaException as e:
                if "TOPIC_ALREADY_EXISTS" not in str(e):
                    raise
        token = uuid.uuid4().hex.encode()
        prod = Producer({**quiet, "acks": "all"})
        prod.produce(HEALTH_TOPIC, token)
        if prod.flush(15) != 0:
            return Probe("kafka", False, "a record could not be written (acks=all)")
        cons = Consumer({**quiet, "group.id": "devstack-health", "enable.auto.commit": False})
        try:
            low, high = cons.get_watermark_offsets(TopicPartition(HEALTH_TOPIC, 0), timeout=10)
            cons.assign([TopicPartition(HEALTH_TOPIC, 0, max(low, high - 1))])
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                msg = cons.poll(1)
                if msg is not None and not msg.error() and msg.value() == token:
                    return Probe(
                        "kafka",
                        True,
                        f"{len(md.brokers)} brokers, controller {md.controller_id}, "
                        f"round trip on a topic with replication {rf}",
                    )
        finally:
            cons.close()
        return Probe("kafka", False, "a record written was not read back")
    except Exception as e:
        return Probe("kafka", False, f"{type(e).__name__}: {str(e)[:160]}")


def probe_clickhouse(plan: Plan, secrets: dict[str, str]) -> Probe:
    base = f"http://{_host(plan)}:{_port(plan, 'clickhouse', 'http')}"
    try:
        if _http(f"{base}/ping").strip() != b"Ok.":
            return Probe("clickhouse", False, "/ping did not answer Ok.")
        q = urllib.parse.urlencode({"user": "default", "password": secrets["clickhouse_password"]})
        if _http(f"{base}/?{q}", data=b"SELECT 1").strip() != b"1":
            return Probe("clickhouse", False, "SELECT 1 gave an unexpected answer")
        return Probe("clickhouse", True, "/ping and SELECT 1 with the stack's password")
    except Exception as e:
        return Probe("clickhouse", False, f"{type(e).__name__}: {str(e)[:160]}")


def probe_postgres(plan: Plan, secrets: dict[str, str]) -> Probe:
    import pg8000.native

    try:
        conn = pg8000.native.Connection(
            "devstack",
            host=_host(plan),
            port=_port(plan, "postgres", "sql"),
            password=secrets["postgres_password"],
            database="devstack",
            timeout=5,
        )
        try:
            dbs = {r[0] for r in conn.run("SELECT datname FROM pg_database")}
        finally:
            conn.close()
        missing = [d for d in ("mlflow", "airflow") if d in plan.names() and d not in dbs]
        if missing:
            return Probe("postgres", False, f"databases missing: {', '.join(missing)}")
        return Probe("postgres", True, "a query as devstack")
    except Exception as e:
        return Probe("postgres", False, f"{type(e).__name__}: {str(e)[:160]}")


def probe_minio(plan: Plan, secrets: dict[str, str]) -> Probe:
    try:
        _http(f"http://{_host(plan)}:{_port(plan, 'minio', 's3')}/minio/health/ready")
        return Probe("minio", True, "/minio/health/ready")
    except Exception as e:
        return Probe("minio", False, f"{type(e).__name__}: {str(e)[:160]}")


def redis_command(plan: Plan, password: str, *args: str) -> bytes:
    """One Redis command after AUTH, over a plain socket (RESP); enough for a probe and for tests."""
    with socket.create_connection((_host(plan), _port(plan, "redis", "redis")), timeout=5) as s:

        def send(*parts: str) -> bytes:
            payload = f"*{len(parts)}\r\n" + "".join(f"${len(p.encode())}\r\n{p}\r\n" for p in parts)
            s.sendall(payload.encode())
            return s.recv(65536)

        auth = send("AUTH", password)
        if not auth.startswith(b"+OK"):
            raise PermissionError(auth.decode(errors="replace").strip())
        return send(*args)


def probe_redis(plan: Plan, secrets: dict[str, str]) -> Probe:
    try:
        pong = redis_command(plan, secrets["redis_password"], "PING")
        return Probe("redis", pong.startswith(b"+PONG"), "AUTH + PING" if pong.startswith(b"+PONG") else str(pong))
    except Exception as e:
        return Probe("redis", False, f"{type(e).__name__}: {str(e)[:160]}")


def probe_mlflow(plan: Plan, secrets: dict[str, str]) -> Probe:
    base = f"http://{_host(plan)}:{_port(plan, 'mlflow', 'http')}"
    try:
        if _http(f"{base}/health").strip() != b"OK":
            return Probe("mlflow", False, "/health did not answer OK")
        # /health skips the Host-header check; the REST API does not, so ask it too
        json.loads(_http(f"{base}/api/2.0/mlflow/experiments/search?max_results=1"))
        return Probe("mlflow", True, "/health and the REST API")
    except Exception as e:
        return Probe("mlflow", False, f"{type(e).__name__}: {str(e)[:160]}")


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


def probe_airflow(plan: Plan, secrets: dict[str, str]) -> Probe:
    url = f"http://{_host(plan)}:{_port(plan, 'airflow', 'http')}/api/v2/monitor/health"
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            health = json.loads(r.read())
            date = r.headers.get("Date")
        # the container's clock, not the host's: Docker Desktop's VM clock can drift from the Mac's
        now = parsedate_to_datetime(date) if date else datetime.now(UTC)
        bad = airflow_not_healthy(health, now)
        if bad:
            return Probe("airflow", False, f"not healthy yet: {', '.join(bad)}")
        return Probe("airflow", True, "metadatabase, scheduler and DAG processor healthy")
    except Exception as e:
        return Probe("airflow", False, f"{type(e).__name__}: {str(e)[:160]}")


def probe_spark(plan: Plan, secrets: dict[str, str]) -> Probe:
    want = int(plan.service("spark").knobs["SPARK_WORKER_MEMORY"].removesuffix("m"))
    try:
        st = json.loads(_http(f"http://{_host(plan)}:{_port(plan, 'spark', 'master-ui')}/json/"))
        alive = [w for w in st.get("workers", []) if w.get("state") == "ALIVE"]
        if st.get("status") != "ALIVE":
            return Probe("spark", False, f"master is {st.get('status')}")
        if not alive:
            return Probe("spark", False, "master ALIVE, no worker registered yet")
        if alive[0].get("memory") != want:
            return Probe("spark", False, f"worker offers {alive[0].get('memory')} MiB, the plan says {want}")
        return Probe("spark", True, f"master ALIVE, worker registered with {want} MiB")
    except Exception as e:
        return Probe("spark", False, f"{type(e).__name__}: {str(e)[:160]}")


def probe_jupyter(plan: Plan, secrets: dict[str, str]) -> Probe:
    try:
        url = f"http://{_host(plan)}:{_port(plan, 'jupyter', 'http')}/api/status"
        json.loads(_http(url, headers={"Authorization": f"token {secrets['jupyter_token']}"}))
        return Probe("jupyter", True, "API answers with the token")
    except Exception as e:
        return Probe("jupyter", False, f"{type(e).__name__}: {str(e)[:160]}")


def prometheus_targets(plan: Plan, timeout: float = 5) -> list[JobHealth]:
    """Prometheus's scrape targets, per job of the rendered prometheus.yml (and any other it has), from its
    /api/v1/targets. Raises on a connection error or an answer that is not the targets document."""
    from devstack.render import ON_DEMAND_JOBS, scrape_jobs

    base = f"http://{_host(plan)}:{_port(plan, 'prometheus', 'http')}"
    doc = json.loads(_http(f"{base}/api/v1/targets?state=active", timeout=timeout))
    expected = [str(j["job_name"]) for j in scrape_jobs(plan) if j["job_name"] not in ON_DEMAND_JOBS]
    return summarize(parse_targets(doc), expected)


def reload_prometheus(plan: Plan, timeout: float = 10) -> None:
    """Have Prometheus read prometheus.yml again (its lifecycle API, on in compose/prometheus.yaml): a new scrape
    job reaches a running Prometheus without a restart, and its data and targets' state stay. Raises on a
    connection error or a config Prometheus refuses (its answer names the error)."""
    base = f"http://{_host(plan)}:{_port(plan, 'prometheus', 'http')}"
    _http(f"{base}/-/reload", data=b"", timeout=timeout)


def probe_prometheus(plan: Plan, secrets: dict[str, str]) -> Probe:
    """Prometheus is healthy when it is ready and answers its targets API. A target that is down does not make
    Prometheus unhealthy (that is the scraped service's problem, and `status` shows it per job); it is named."""
    base = f"http://{_host(plan)}:{_port(plan, 'prometheus', 'http')}"
    try:
        _http(f"{base}/-/ready")
        return Probe("prometheus", True, "ready, " + describe(prometheus_targets(plan)))
    except Exception as e:
        return Probe("prometheus", False, f"{type(e).__name__}: {str(e)[:160]}")


PROBES: dict[str, Callable[[Plan, dict[str, str]], Probe]] = {
    "kafka": probe_kafka,
    "clickhouse": probe_clickhouse,
    "postgres": probe_postgres,
    "minio": probe_minio,
    "redis": probe_redis,
    "mlflow": probe_mlflow,
    "airflow": probe_airflow,
    "spark": probe_spark,
    "jupyter": probe_jupyter,
    "prometheus": probe_prometheus,
}


def probe_once(plan: Plan, secrets: dict[str, str], services: list[str] | None = None) -> dict[str, Probe]:
    """Every probe once, in parallel (for `status`): no waiting, no round trip through Kafka."""
    names = [n for n in (services or plan.names()) if n in PROBES]

    def one(n: str) -> Probe:
        t0 = time.monotonic()
        p = probe_kafka(plan, secrets, round_trip=False) if n == "kafka" else PROBES[n](plan, secrets)
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
    names = [n for n in plan.names() if n in PROBES]
    limits = {**DEADLINES, **(deadlines or {})}

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
            p = Probe(n, False, why_not.detail) if why_not else PROBES[n](plan, secrets)
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
