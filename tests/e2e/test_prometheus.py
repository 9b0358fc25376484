"""Prometheus in a real stack, brought up through the CLI on the test images: it scrapes the services' native
endpoints (MinIO, Spark, itself; ClickHouse's where the server has one) and the Kafka and Redis exporters, the
exporters see the whole Kafka cluster and sign in to Redis with the stack's password, and `devstack status`
reports every scrape job, up or down with the reason, in its table and its JSON."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devstack.lifecycle.stack import load_plan
from tests.conftest import kafka_conf, run_cli, up_failed
from tests.shifted_stack import config_path, configure, shifted_env

pytestmark = pytest.mark.engine
STACK = "e2e-prom"
PROJECT = f"devstack-{STACK}"
SERVICES = "kafka,redis,minio,spark,clickhouse,prometheus"
# every published port moved by a devstack.yaml, as a user would: this stack never needs another one's ports
SHIFT = 20000
UP = ("up", "--services", SERVICES, "--budget", "10g", "--stack", STACK, "--config")
PROM = f"http://127.0.0.1:{9090 + SHIFT}"
ALWAYS_UP = ("prometheus", "minio", "spark-master", "spark-worker", "kafka", "redis", "containers")
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
# devstack.yaml's `alerts:` for this stack (each `for: 10s`): the rules as the services declare them, with thresholds
# the test can cross on purpose
ALERTS: dict[str, dict[str, Any]] = {
    "KafkaUnderReplicatedPartitions": {},
    "KafkaConsumerGroupLag": {"threshold": 5},
    "RedisMemoryNearMax": {"threshold": 0.0001},  # an idle Redis uses ~1 MB of its maxmemory
}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    e = shifted_env(
        tmp_path_factory.mktemp("state"),
        SERVICES,
        SHIFT,
        [
            "KAFKA",
            "REDIS",
            "MINIO",
            "SPARK",
            "CLICKHOUSE",
            "PROMETHEUS",
            "KAFKA_EXPORTER",
            "REDIS_EXPORTER",
            "CADVISOR",
        ],
    )
    # the services' alert rules with thresholds and `for`s a test can reach in seconds, as a user may set them
    configure(e, alerts={name: {"for": "10s", **more} for name, more in ALERTS.items()})
    yield e
    run_cli("down", "--stack", STACK, "--volumes", "--yes", env=e)


@pytest.fixture(scope="module")
def up(env: dict[str, str]) -> dict[str, Any]:
    r = run_cli(*UP, config_path(env), "--json", env=env)
    assert r.returncode == 0, up_failed(r)
    return dict(json.loads(r.stdout))


def _get(path: str) -> Any:
    with urllib.request.urlopen(f"{PROM}{path}", timeout=10) as r:
        return json.load(r)


def _health() -> dict[str, tuple[str, str]]:
    targets = _get("/api/v1/targets")["data"]["activeTargets"]
    return {t["labels"]["job"]: (t["health"], t["lastError"]) for t in targets}


def _wait_for(jobs: tuple[str, ...], health: str, timeout: float = 120) -> dict[str, tuple[str, str]]:
    """Until every job in `jobs` has that health (Prometheus scrapes every 15 s), or the deadline."""
    deadline, seen = time.monotonic() + timeout, {}
    while time.monotonic() < deadline:
        seen = _health()
        if all(seen.get(j, ("", ""))[0] == health for j in jobs):
            break
        time.sleep(3)
    return seen


def _query(expr: str) -> list[dict[str, Any]]:
    return list(_get("/api/v1/query?" + urllib.parse.urlencode({"query": expr}))["data"]["result"])


def _values(expr: str, want: list[float], timeout: float = 75) -> list[float]:
    """The query's values once they equal `want`, or the last seen at the deadline. kafka_exporter refreshes
    its cluster metadata every 30 s, and Prometheus scrapes every 15 s: a broker that just joined takes up to
    both to show."""
    deadline, got = time.monotonic() + timeout, []
    while time.monotonic() < deadline:
        got = [float(r["value"][1]) for r in _query(expr)]
        if got == want:
            break
        time.sleep(3)
    return got


def _clickhouse_has_a_prometheus_endpoint(env: dict[str, str]) -> bool:
    """The 20.x releases serve <prometheus>; 18.16 (the test image, from Debian) has no such listener, 25.8 (the
    official image) has."""
    secrets = json.loads((Path(env["XDG_STATE_HOME"]) / "devstack" / STACK / "secrets.json").read_text())
    q = urllib.parse.urlencode({"user": "default", "password": secrets["clickhouse_password"]})
    req = urllib.request.Request(f"http://127.0.0.1:{8123 + SHIFT}/?{q}", data=b"SELECT version()")
    with urllib.request.urlopen(req, timeout=10) as r:
        version = r.read().decode().strip()
    return int(version.split(".")[0]) >= 20


def _status(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli("status", "--stack", STACK, *args, env=env)


def test_every_target_is_scraped(up: dict[str, Any], env: dict[str, str]) -> None:
    assert up["ok"], up["failures"]
    seen = _wait_for(ALWAYS_UP, "up")
    assert all(seen.get(j, ("missing", ""))[0] == "up" for j in ALWAYS_UP), seen
    if _clickhouse_has_a_prometheus_endpoint(env):
        assert _wait_for(("clickhouse",), "up")["clickhouse"][0] == "up"
    else:  # rendered all the same, and reported down with Prometheus's own reason
        health, error = _wait_for(("clickhouse",), "down")["clickhouse"]
        assert health == "down" and "connection refused" in error, error


def test_kafka_exporter_sees_the_three_brokers(up: dict[str, Any]) -> None:
    _wait_for(("kafka",), "up")
    assert _values('kafka_brokers{job="kafka"}', [3.0]) == [3.0]
    # the health probe's topic, replicated on all three brokers, is seen with its partitions
    assert _values('kafka_topic_partitions{job="kafka", topic="_devstack_health"}', [1.0]) == [1.0]


def test_redis_exporter_signs_in_with_the_stack_password(up: dict[str, Any], env: dict[str, str]) -> None:
    _wait_for(("redis",), "up")
    assert _values('redis_up{job="redis"}', [1.0]) == [1.0]
    maxmemory = _query('redis_memory_max_bytes{job="redis"}')
    plan = load_plan(Path(env["XDG_STATE_HOME"]) / "devstack" / STACK)
    assert plan is not None
    want = int(plan.service("redis").knobs["maxmemory"].removesuffix("mb")) * 1024 * 1024
    assert [float(r["value"][1]) for r in maxmemory] == [float(want)]
    # the password reaches Redis, not the exporter's logs or metrics
    secrets = json.loads((Path(env["XDG_STATE_HOME"]) / "devstack" / STACK / "secrets.json").read_text())
    logs = subprocess.run(["docker", "logs", f"{PROJECT}-redis-exporter-1"], capture_output=True, text=True, check=True)
    # everything Prometheus scraped from the exporter, config metrics included (redacted by its default)
    scraped = urllib.request.urlopen(f"{PROM}/federate?match[]=%7Bjob%3D%22redis%22%7D", timeout=10).read().decode()
    assert "redis_up" in scraped
    for text in (logs.stdout + logs.stderr, scraped):
        assert secrets["redis_password"] not in text and secrets["redis_exporter_password"] not in text


def test_each_redis_client_has_only_its_rights(up: dict[str, Any], env: dict[str, str]) -> None:
    # issue 15.3: one ACL user per client; the exporter above signs in as its own and reports redis_up 1
    from devstack.runtime.health import resp_command

    secrets = json.loads((Path(env["XDG_STATE_HOME"]) / "devstack" / STACK / "secrets.json").read_text())
    port = 6379 + SHIFT

    def as_(user: str, *args: str) -> bytes:
        return resp_command("127.0.0.1", port, secrets[f"redis_{user}_password"], *args, user=user)

    assert as_("features", "SET", "features:ACL", "1") == b"+OK\r\n"
    assert as_("features", "HSET", "features:ACL2", "ret", "0.1") == b":1\r\n"
    for denied in (("SET", "other:ACL", "1"), ("FLUSHALL",), ("KEYS", "*"), ("CONFIG", "GET", "maxmemory")):
        assert as_("features", *denied).startswith(b"-NOPERM"), denied
    assert as_("probe", "PING") == b"+PONG\r\n"
    assert as_("probe", "GET", "features:ACL").startswith(b"-NOPERM")
    assert as_("exporter", "INFO", "server").startswith(b"$")
    assert as_("exporter", "SET", "features:ACL", "2").startswith(b"-NOPERM")
    with pytest.raises(PermissionError):  # a wrong password
        resp_command("127.0.0.1", port, "not-the-password", "PING", user="features")
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:  # no AUTH at all
        s.sendall(b"*2\r\n$3\r\nGET\r\n$11\r\nfeatures:ACL\r\n")
        assert s.recv(1024).startswith(b"-NOAUTH")


def test_native_endpoints_carry_their_services_metrics(up: dict[str, Any]) -> None:
    _wait_for(("minio", "spark-master", "spark-worker"), "up")
    assert _query('minio_cluster_nodes_online_total{job="minio"}'), "MinIO's cluster metrics"
    assert _values('metrics_master_aliveWorkers_Value{job="spark-master"}', [1.0]) == [1.0]


def test_exporters_run_within_the_planned_memory(up: dict[str, Any], env: dict[str, str]) -> None:
    st = json.loads(_status(env, "--json").stdout)
    prom = next(s for s in st["services"] if s["name"] == "prometheus")
    plan = load_plan(Path(env["XDG_STATE_HOME"]) / "devstack" / STACK)
    assert plan is not None
    planned = plan.service("prometheus").containers
    got = {c["name"]: c for c in prom["containers"]}
    assert set(got) == set(planned) == {"prometheus", "kafka-exporter", "redis-exporter", "cadvisor"}
    for name, c in got.items():
        assert c["state"] == "running" and c["limit_mib"] == planned[name], c
        assert 0 < c["used_mib"] < c["limit_mib"], c
        print(f"\n{name}: {c['used_mib']} MiB used of {c['limit_mib']} MiB")


def test_status_reports_every_scrape_job(up: dict[str, Any], env: dict[str, str]) -> None:
    _wait_for(ALWAYS_UP, "up")
    r = _status(env, "--json")
    st = json.loads(r.stdout)
    assert r.returncode == 0 and st["healthy"], st
    prom = next(s for s in st["services"] if s["name"] == "prometheus")
    jobs = {j["job"]: j for j in prom["targets"]}
    # every job the stack's prometheus.yml was rendered with, in its order (tests/unit/test_prometheus.py pins that
    # list), but the demo's model server, which has no target until `devstack demo` runs
    from devstack.render.project import MODEL_SERVER_JOB, scrape_jobs

    plan = load_plan(Path(env["XDG_STATE_HOME"]) / "devstack" / STACK)
    assert plan is not None
    rendered = [str(j["job_name"]) for j in scrape_jobs(plan)]
    assert list(jobs) == [j for j in rendered if j != MODEL_SERVER_JOB] and "containers" in jobs, (jobs, rendered)
    for job in ALWAYS_UP:
        assert jobs[job]["health"] == "up" and jobs[job]["up"] == jobs[job]["total"] == 1, jobs[job]
    ch = jobs["clickhouse"]
    if not _clickhouse_has_a_prometheus_endpoint(env):
        assert ch["health"] == "down" and "connection refused" in ch["last_error"], ch
    assert all(s["targets"] == [] for s in st["services"] if s["name"] != "prometheus")
    table = _status(env)
    assert "Monitoring: Prometheus scrape targets" in table.stdout, table.stdout
    section = table.stdout.split("Monitoring: Prometheus scrape targets", 1)[1]
    cells = [[c.strip() for c in line.strip().strip("│").split("│")] for line in section.splitlines()]
    rows = {c[0]: c for c in cells if len(c) == 4 and c[0]}
    assert list(rows) == list(jobs), table.stdout
    assert all(rows[j][1:3] == ["up", "1/1"] for j in ALWAYS_UP), table.stdout


def test_a_stopped_exporter_shows_as_a_down_job_with_its_error(up: dict[str, Any], env: dict[str, str]) -> None:
    subprocess.run(["docker", "stop", "-t", "2", f"{PROJECT}-redis-exporter-1"], check=True, capture_output=True)
    try:
        seen = _wait_for(("redis",), "down", timeout=60)
        assert seen["redis"][0] == "down", seen
        st = json.loads(_status(env, "--json").stdout)
        prom = next(s for s in st["services"] if s["name"] == "prometheus")
        redis = next(j for j in prom["targets"] if j["job"] == "redis")
        assert redis["health"] == "down" and redis["last_error"], redis
        assert not prom["healthy"] and "redis-exporter" in prom["detail"], prom["detail"]
    finally:
        r = run_cli(*UP, config_path(env), env=env)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr
    assert _wait_for(("redis",), "up", timeout=60)["redis"][0] == "up"


def _exporter_runs(exporter: str, since: str) -> tuple[int, int]:
    """kafka_exporter's starts and its exits for want of a broker ("Error Init Kafka Client"), from its log."""
    r = subprocess.run(["docker", "logs", "--since", since, exporter], capture_output=True, text=True)
    text = r.stdout + r.stderr
    return text.count("Starting kafka_exporter"), text.count("Error Init Kafka Client")


def _wait_starts(exporter: str, since: str, starts: int, timeout: float) -> tuple[int, int]:
    deadline = time.monotonic() + timeout
    seen = _exporter_runs(exporter, since)
    while time.monotonic() < deadline and seen[0] < starts:
        time.sleep(1)
        seen = _exporter_runs(exporter, since)
    return seen


def test_kafka_exporter_waits_out_a_kafka_outage_without_restarting(up: dict[str, Any], env: dict[str, str]) -> None:
    """The exporter's container never restarts: kafka_exporter exits when no broker answers its first metadata
    request, and the container's loop starts it again 5 s later, as often as it takes: every exit is followed by a
    start, and Docker's restart count and the container's start time stay as they were."""
    brokers = [f"{PROJECT}-kafka-{i}-1" for i in (1, 2, 3)]
    exporter = f"{PROJECT}-kafka-exporter-1"

    def inspect() -> dict[str, Any]:
        out = subprocess.run(["docker", "inspect", exporter], capture_output=True, text=True, check=True).stdout
        return dict(json.loads(out)[0])

    subprocess.run(["docker", "stop", "-t", "10", *brokers], check=True, capture_output=True)
    try:
        # started while no broker answers: kafka_exporter exits at once; its loop starts it again, in the container
        subprocess.run(["docker", "restart", "-t", "2", exporter], check=True, capture_output=True)
        since = inspect()["State"]["StartedAt"]
        restarts = inspect()["RestartCount"]
        seen = _wait_for(("kafka",), "down", timeout=60)
        assert seen["kafka"][0] == "down", seen
        # each exit is followed by a start, by the loop, not Docker: with no broker answering, kafka_exporter
        # exits at once, again and again; if it stays up (CI saw Docker's DNS still answer for a stopped broker, and
        # kafka_exporter then got no error it exits on), it is made to exit, by a kill
        starts, exits = _wait_starts(exporter, since, 2, timeout=20)
        if starts < 2:
            killed = subprocess.run(
                ["docker", "exec", exporter, "sh", "-c", "kill $(pidof kafka_exporter)"], capture_output=True, text=True
            )
            assert killed.returncode == 0, killed.stderr
            starts, exits = _wait_starts(exporter, since, starts + 1, timeout=30)
        assert starts >= 2, f"kafka_exporter was not started again: {starts} starts, {exits} exits"
        state = inspect()
        assert state["State"]["Status"] == "running" and state["State"]["Restarting"] is False, state["State"]
        assert state["RestartCount"] == restarts and state["State"]["StartedAt"] == since, state["State"]
    finally:
        r = run_cli(*UP, config_path(env), env=env)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr
    assert _wait_for(("kafka",), "up", timeout=90)["kafka"][0] == "up"
    assert _values('kafka_brokers{job="kafka"}', [3.0]) == [3.0]


def _firing(name: str, labels: dict[str, str] | None = None, timeout: float = 180) -> list[dict[str, Any]]:
    """The firing alerts of that rule once one with these labels fires (scrape 15 s, kafka_exporter's metadata
    30 s, the rule's `for`): another instance of the rule may fire a scrape earlier (one topic before another)."""
    want = labels or {}
    deadline, found = time.monotonic() + timeout, []
    while time.monotonic() < deadline:
        found = [
            a
            for a in _get("/api/v1/alerts")["data"]["alerts"]
            if a["labels"]["alertname"] == name and a["state"] == "firing"
        ]
        if any(all(a["labels"].get(k) == v for k, v in want.items()) for a in found):
            break
        time.sleep(3)
    return found


def test_the_rules_carry_devstack_yaml_thresholds(up: dict[str, Any]) -> None:
    rules = {r["name"]: r for g in _get("/api/v1/rules")["data"]["groups"] for r in g["rules"]}
    assert rules["KafkaConsumerGroupLag"]["query"].endswith("> 5")
    assert rules["KafkaConsumerGroupLag"]["duration"] == 10
    assert rules["TargetDown"]["duration"] == 60  # not set: the service's own `for`


def test_redis_near_maxmemory_fires(up: dict[str, Any]) -> None:
    firing = _firing("RedisMemoryNearMax")
    assert [a["labels"]["service"] for a in firing] == ["redis"], firing


def test_a_lagging_consumer_group_fires(up: dict[str, Any], env: dict[str, str]) -> None:
    from confluent_kafka import Consumer, Producer, TopicPartition

    conf = kafka_conf(f"127.0.0.1:{9092 + SHIFT}", env, STACK)
    p = Producer({**conf, "acks": "all"})
    for i in range(20):
        p.produce("alert-lag", f"r{i}".encode())
    assert p.flush(30) == 0
    c = Consumer({**conf, "group.id": "lagging", "enable.auto.commit": False})
    try:  # a group that has read nothing: 20 records behind, above the threshold of 5
        c.commit(offsets=[TopicPartition("alert-lag", p, 0) for p in range(3)], asynchronous=False)  # its 3 partitions
    finally:
        c.close()
    firing = _firing("KafkaConsumerGroupLag", {"consumergroup": "lagging", "topic": "alert-lag"})
    assert ("lagging", "alert-lag") in [(a["labels"]["consumergroup"], a["labels"]["topic"]) for a in firing], firing


def test_a_stopped_broker_leaves_partitions_under_replicated_and_fires(up: dict[str, Any], env: dict[str, str]) -> None:
    subprocess.run(["docker", "stop", "-t", "10", f"{PROJECT}-kafka-3-1"], check=True, capture_output=True)
    try:
        firing = _firing("KafkaUnderReplicatedPartitions", {"topic": "_devstack_health"})
        assert "_devstack_health" in {a["labels"]["topic"] for a in firing}, firing  # replication 3, one replica gone
    finally:
        r = run_cli(*UP, config_path(env), env=env)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr
    assert _values('kafka_brokers{job="kafka"}', [3.0]) == [3.0]


def test_record_targets_fixture(up: dict[str, Any]) -> None:
    """Keeps tests/fixtures/prometheus_targets_testbed.json a real answer: the unit tests parse it. Written only
    when RECORD_PROMETHEUS_FIXTURE=1, so a normal run checks, and never rewrites, what is committed."""
    import os

    _wait_for(ALWAYS_UP, "up")
    doc = _get("/api/v1/targets")
    if os.environ.get("RECORD_PROMETHEUS_FIXTURE") == "1":
        (FIXTURES / "prometheus_targets_testbed.json").write_text(json.dumps(doc, indent=2) + "\n")
    from devstack.planning.targets import parse_targets

    assert {t.job for t in parse_targets(doc)} >= set(ALWAYS_UP)
