"""The rendered project runs for real: every Compose service of the full profile (Kafka x3, Spark, ClickHouse,
PostgreSQL, MinIO, Redis, MLflow, Airflow, Prometheus, and JupyterLab when its test image exists) on the test
images, started with plain `docker compose up --wait` (python-on-whales), then checked in each service's own
protocol from the host, and against the plan: memory limits seen by Docker, ports bound to loopback."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.planning.config import plan_request, select
from devstack.planning.plan import Plan, make_plan
from devstack.render.project import render
from tests.testbed_images import testbed_images

pytestmark = pytest.mark.engine
SERVICES = [
    "kafka",
    "spark",
    "clickhouse",
    "postgres",
    "minio",
    "redis",
    "mlflow",
    "airflow",
    "prometheus",
    "alertmanager",
]
NEEDED = [f"DEVSTACK_IMAGE_{s.upper()}" for s in SERVICES]
PROJECT = "devstack-e2e-render"


def _env(d: Path) -> dict[str, str]:
    return dict(
        line.split("=", 1) for line in (d / ".env").read_text().splitlines() if line and not line.startswith("#")
    )


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Plan, Path, object]]:
    images = testbed_images()
    missing = [k for k in NEEDED if k not in images]
    if missing:
        pytest.fail(f"test images missing ({', '.join(missing)}): run bash tests/testbed/setup.sh")
    from python_on_whales import DockerClient

    old = {k: os.environ.get(k) for k in images}
    os.environ.update(images)
    d = tmp_path_factory.mktemp("stack") / "streaming"
    services = SERVICES + (["jupyter"] if "DEVSTACK_IMAGE_JUPYTER" in images else [])
    sel = select(profile="full", services=",".join(services), budget="16g", config=None, stack=None, cwd=d.parent)
    plan = make_plan(plan_request(sel, engine_mib=None, host_mib=None, arch="amd64"))
    render(plan, d, PROJECT)
    docker = DockerClient(
        compose_project_directory=str(d), compose_files=[str(d / "compose.yaml")], compose_env_files=[str(d / ".env")]
    )
    try:
        docker.compose.up(detach=True, wait=True, wait_timeout=420)
        yield plan, d, docker
    finally:
        try:
            docker.compose.down(volumes=True, timeout=20)
        finally:
            for k, v in old.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def test_every_container_healthy_with_planned_limits_on_loopback(stack) -> None:  # type: ignore[no-untyped-def]
    plan, _, docker = stack
    containers = docker.compose.ps(all=True)
    planned = {c: m for s in plan.services for c, m in s.containers.items()}
    assert {c.config.labels["com.docker.compose.service"] for c in containers} == set(planned)
    for c in containers:
        name = c.config.labels["com.docker.compose.service"]
        if name == "airflow-init":  # a one-shot job: done is success
            assert c.state.exit_code == 0
            continue
        assert c.state.running, name
        if c.state.health is not None:
            assert c.state.health.status == "healthy", name
        assert c.host_config.memory == planned[name] * 1024 * 1024, name
        for bindings in (c.network_settings.ports or {}).values():
            for b in bindings or []:
                assert b["HostIp"] == "127.0.0.1", (name, b)


def test_kafka_quorum_has_three_voters(stack) -> None:  # type: ignore[no-untyped-def]
    _, _, docker = stack
    out = docker.compose.execute(
        "kafka-1",
        [
            "bash",
            "-c",
            # as the admin principal (the brokers ask for SASL), with the client config the render ships for it
            "KAFKA_HEAP_OPTS=-Xmx128m /opt/kafka/bin/kafka-metadata-quorum.sh "
            "--bootstrap-server kafka-1:19092 --command-config /mnt/devstack/admin.properties describe --status",
        ],
        tty=False,
    )
    voters = next(line for line in out.splitlines() if line.startswith("CurrentVoters"))
    assert all(f'"id": {i}' in voters for i in (1, 2, 3)), voters


def test_clickhouse_answers_with_the_generated_password_only(stack) -> None:  # type: ignore[no-untyped-def]
    _, d, _ = stack
    pw = _env(d)["DEVSTACK_CLICKHOUSE_PASSWORD"]
    q = urllib.parse.urlencode({"user": "default", "password": pw, "query": "SELECT 1"})
    assert urllib.request.urlopen(f"http://127.0.0.1:8123/?{q}", timeout=10).read().strip() == b"1"
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen("http://127.0.0.1:8123/?query=SELECT%201", timeout=10)


def test_redis_carries_the_planned_maxmemory_and_a_password(stack) -> None:  # type: ignore[no-untyped-def]
    plan, _, docker = stack
    got = docker.compose.execute("redis", ["redis-cli", "config", "get", "maxmemory"], tty=False).split()
    assert int(got[-1]) == int(plan.service("redis").knobs["maxmemory"].removesuffix("mb")) * 1024 * 1024
    noauth = docker.compose.execute("redis", ["sh", "-c", "REDISCLI_AUTH= redis-cli ping"], tty=False)
    assert "NOAUTH" in noauth


def test_spark_worker_registers_with_the_planned_memory(stack) -> None:  # type: ignore[no-untyped-def]
    import time

    plan, _, docker = stack
    want = int(plan.service("spark").knobs["SPARK_WORKER_MEMORY"].removesuffix("m"))
    deadline = time.monotonic() + 90
    state: dict = {}
    while time.monotonic() < deadline:
        state = json.load(urllib.request.urlopen("http://127.0.0.1:8080/json/", timeout=5))
        if state.get("aliveworkers"):
            break
        time.sleep(2)
    assert state["status"] == "ALIVE"
    alive = [w["memory"] for w in state["workers"] if w["state"] == "ALIVE"]
    assert alive == [want], docker.compose.logs("spark-worker", tail="30")


def _http_json(url: str, data: bytes | None = None, headers: dict[str, str] | None = None) -> dict:
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json", **(headers or {})})
    return json.load(urllib.request.urlopen(req, timeout=15))


def test_postgres_has_a_role_and_database_per_service(stack) -> None:  # type: ignore[no-untyped-def]
    _, _, docker = stack
    out = docker.compose.execute(
        "postgres", ["psql", "-U", "devstack", "-d", "devstack", "-Atc", "SELECT datname FROM pg_database"], tty=False
    )
    assert {"mlflow", "airflow"} <= set(out.split())


def test_mlflow_tracks_into_postgres(stack) -> None:  # type: ignore[no-untyped-def]
    assert urllib.request.urlopen("http://127.0.0.1:5050/health", timeout=10).read().strip() == b"OK"
    created = _http_json("http://127.0.0.1:5050/api/2.0/mlflow/experiments/create", b'{"name": "e2e"}')
    got = _http_json(f"http://127.0.0.1:5050/api/2.0/mlflow/experiments/get?experiment_id={created['experiment_id']}")
    assert got["experiment"]["name"] == "e2e"


def test_minio_ready(stack) -> None:  # type: ignore[no-untyped-def]
    assert urllib.request.urlopen("http://127.0.0.1:9000/minio/health/ready", timeout=10).status == 200


def test_airflow_healthy_and_admin_signs_in_with_the_generated_password(stack) -> None:  # type: ignore[no-untyped-def]
    import time

    _, d, _ = stack
    deadline, health = time.monotonic() + 120, {}
    while time.monotonic() < deadline:
        health = _http_json("http://127.0.0.1:8088/api/v2/monitor/health")
        if all(health[k]["status"] == "healthy" for k in ("metadatabase", "scheduler", "dag_processor")):
            break
        time.sleep(3)
    assert all(health[k]["status"] == "healthy" for k in ("metadatabase", "scheduler", "dag_processor")), health
    pw = _env(d)["DEVSTACK_AIRFLOW_ADMIN_PASSWORD"]
    token = _http_json("http://127.0.0.1:8088/auth/token", json.dumps({"username": "admin", "password": pw}).encode())
    assert token["access_token"]
    with pytest.raises(urllib.error.HTTPError):
        _http_json("http://127.0.0.1:8088/auth/token", b'{"username": "admin", "password": "admin"}')


def test_prometheus_scrapes_spark_and_minio(stack) -> None:  # type: ignore[no-untyped-def]
    import time

    assert urllib.request.urlopen("http://127.0.0.1:9090/-/ready", timeout=10).status == 200
    deadline, health = time.monotonic() + 60, {}
    while time.monotonic() < deadline:
        targets = _http_json("http://127.0.0.1:9090/api/v1/targets")["data"]["activeTargets"]
        health = {t["labels"]["job"]: t["health"] for t in targets}
        if all(health.get(j) == "up" for j in ("minio", "spark-master", "spark-worker", "prometheus")):
            break
        time.sleep(3)
    # ClickHouse 18.16 in the test image has no Prometheus endpoint (the official image's releases do)
    assert all(health.get(j) == "up" for j in ("minio", "spark-master", "spark-worker", "prometheus")), health


def test_jupyter_answers_with_its_token(stack) -> None:  # type: ignore[no-untyped-def]
    plan, d, _ = stack
    if "jupyter" not in plan.names():
        pytest.skip("no JupyterLab test image")
    token = _env(d)["DEVSTACK_JUPYTER_TOKEN"]
    status = _http_json(f"http://127.0.0.1:8888/api/status?token={token}")
    assert "started" in status
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen("http://127.0.0.1:8888/api/contents", timeout=10)


def test_networks_isolate_the_tiers(stack) -> None:  # type: ignore[no-untyped-def]
    from python_on_whales.exceptions import DockerException

    _, _, docker = stack
    probe = "exec 3<>/dev/tcp/{host}/{port} && echo reached"
    # Kafka's network has no PostgreSQL or MLflow ...
    for host, port in (("postgres", 5432), ("mlflow", 5000)):
        with pytest.raises(DockerException):
            docker.compose.execute("kafka-1", ["bash", "-c", probe.format(host=host, port=port)], tty=False)
    # ... while Spark reaches what its jobs use
    for host, port in (("kafka-1", 19092), ("minio", 9000), ("clickhouse", 8123), ("redis", 6379)):
        out = docker.compose.execute("spark-worker", ["bash", "-c", probe.format(host=host, port=port)], tty=False)
        assert "reached" in out, host
