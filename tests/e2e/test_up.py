"""`devstack up` for real, driven through the CLI as a user would, on the test images: every Compose service of
the full profile healthy by its own protocol, status telling the truth, data surviving down/up, faults
reported and repaired, bad environments refused before anything starts."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.lifecycle.stack import load_plan
from devstack.planning.plan import Plan
from tests.conftest import run_cli, up_failed
from tests.testbed_images import testbed_images

pytestmark = pytest.mark.engine
STACK = "e2e"
PROJECT = f"devstack-{STACK}"
# every Compose service of the full profile: Seldon's k3d cluster runs in tests/e2e/test_seldon_cluster.py's own
# stack, and tests/e2e/test_seldon_up.py checks what `up` says when its node image cannot be had
COMPOSE = "kafka,spark,clickhouse,postgres,minio,redis,mlflow,airflow,jupyter,prometheus,alertmanager"
UP = ("up", "--services", COMPOSE, "--budget", "16g", "--stack", STACK)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    images = testbed_images()
    if "DEVSTACK_IMAGE_AIRFLOW" not in images:
        pytest.fail("test images missing: run bash tests/testbed/setup.sh")
    e = {**images, "XDG_STATE_HOME": str(tmp_path_factory.mktemp("state"))}
    yield e
    run_cli("down", "--stack", STACK, "--volumes", "--yes", env=e)
    for extra in ("e2e-other", "e2e-port"):
        run_cli("down", "--stack", extra, "--volumes", "--yes", env=e)


@pytest.fixture(scope="module")
def up(env: dict[str, str]) -> dict:
    r = run_cli(*UP, "--json", env=env)
    assert r.returncode == 0, up_failed(r)
    return json.loads(r.stdout)


def why_not(r: subprocess.CompletedProcess[str]) -> str:
    """The failure's own lines first (the endpoints table and logs after them would push them out of view)."""
    lines = r.stdout.splitlines()
    head = [ln for ln in lines if "is not healthy" in ln or ln.startswith("hint:")]
    return "\n".join(head) + "\n---\n" + r.stdout[-2000:] + r.stderr


def plan_of(env: dict[str, str]) -> Plan:
    plan = load_plan(Path(env["XDG_STATE_HOME"]) / "devstack" / STACK)
    assert plan is not None
    return plan


def secrets_of(env: dict[str, str]) -> dict[str, str]:
    return json.loads((Path(env["XDG_STATE_HOME"]) / "devstack" / STACK / "secrets.json").read_text())


def status(env: dict[str, str]) -> tuple[int, dict]:
    r = run_cli("status", "--stack", STACK, "--json", env=env)
    return r.returncode, json.loads(r.stdout)


def test_up_brings_every_compose_service_to_healthy(up: dict) -> None:
    assert up["ok"] and not up["failures"]
    assert set(up["services"]) == {
        "kafka",
        "spark",
        "clickhouse",
        "postgres",
        "minio",
        "redis",
        "mlflow",
        "airflow",
        "jupyter",
        "prometheus",
        "alertmanager",
    }
    assert all(s["ok"] for s in up["services"].values()), up["services"]
    assert up["skipped"] == []
    # each service says where its start went: every one ends in its own probe, after Compose's healthcheck
    for name, svc in up["services"].items():
        assert list(svc["waited"])[-1] == "probe", (name, svc)
        assert set(svc["waited"]) <= {"compose", "container", "healthcheck", "probe"}, (name, svc)
        assert sum(svc["waited"].values()) == pytest.approx(svc["seconds"], abs=2), (name, svc)
    print(f"\ntime to all healthy: {up['seconds']}s")
    for name, svc in sorted(up["services"].items(), key=lambda kv: -kv[1]["seconds"]):
        print(f"  {name:<11} {svc['seconds']:6.1f}s  " + ", ".join(f"{k} {v:.0f}s" for k, v in svc["waited"].items()))


def test_status_json_matches_the_plan_and_docker(up: dict, env: dict[str, str]) -> None:
    rc, st = status(env)
    assert rc == 0 and st["healthy"], st
    plan = plan_of(env)
    for s in st["services"]:
        if s["runtime"] != "compose":
            assert s["state"] == "not started"
            continue
        assert s["state"] == "running" and s["healthy"], s
        planned = plan.service(s["name"]).containers
        for c in s["containers"]:
            assert c["limit_mib"] == planned[c["name"]], c  # memory limits seen by Docker equal the plan
            if c["state"] == "running":
                assert c["used_mib"] > 0, c


def test_no_published_port_listens_beyond_loopback(up: dict) -> None:
    out = subprocess.run(
        ["docker", "ps", "-a", "--filter", f"label=com.docker.compose.project={PROJECT}", "-q"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    info = json.loads(subprocess.run(["docker", "inspect", *out], capture_output=True, text=True, check=True).stdout)
    published = 0
    for c in info:
        for bindings in (c["HostConfig"]["PortBindings"] or {}).values():
            for b in bindings:
                published += 1
                assert b["HostIp"] == "127.0.0.1", (c["Name"], b)
    assert published >= 17


def _kafka_conf(env: dict[str, str]) -> dict:
    """The stack's admin principal (the brokers ask for SASL); quiet: it reconnects during down/up."""
    from devstack.services.kafka import ADMIN, login

    brokers = ",".join(f"127.0.0.1:{p}" for p in plan_of(env).service("kafka").ports["broker"])
    return login(brokers, ADMIN, secrets_of(env)).config()


def _consume_all(env: dict[str, str], topic: str, expect: int) -> list[bytes]:
    from confluent_kafka import Consumer

    c = Consumer({**_kafka_conf(env), "group.id": f"t-{uuid.uuid4().hex}", "auto.offset.reset": "earliest"})
    c.subscribe([topic])
    got: list[bytes] = []
    deadline = time.monotonic() + 60
    while len(got) < expect and time.monotonic() < deadline:
        m = c.poll(1)
        if m is not None and not m.error():
            got.append(m.value())
    c.close()
    return got


def test_kafka_topic_with_replication_3_round_trips_from_the_host(up: dict, env: dict[str, str]) -> None:
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient(_kafka_conf(env))
    assert len(admin.list_topics(timeout=10).brokers) == 3
    topic = f"rf3-{uuid.uuid4().hex[:8]}"
    admin.create_topics([NewTopic(topic, 3, 3)])[topic].result(30)
    md = admin.list_topics(topic, timeout=10).topics[topic]
    assert all(len(p.replicas) == 3 for p in md.partitions.values())
    p = Producer({**_kafka_conf(env), "acks": "all"})
    sent = [f"record-{i}".encode() for i in range(100)]
    for v in sent:
        p.produce(topic, v)
    assert p.flush(30) == 0
    got = _consume_all(env, topic, len(sent))
    print(f"\nkafka rf3 round trip: written {len(sent)}, read {len(got)}")
    assert sorted(got) == sorted(sent)


def test_kafka_logs_everything_to_docker_logs_and_nothing_to_files(up: dict) -> None:
    """apache/kafka's default log4j2.yaml (which the stand-in reproduces) writes hourly files into the container
    layer, never deleted, and keeps the controller's lines out of `docker logs`; devstack's own config does not."""
    name = f"{PROJECT}-kafka-1-1"
    logs = subprocess.run(["docker", "logs", name], capture_output=True, text=True, timeout=60)
    said = logs.stdout + logs.stderr
    assert "(org.apache.kafka.controller." in said, said[-2000:]
    files = subprocess.run(
        ["docker", "exec", name, "find", "/opt/kafka/logs", "-type", "f"], capture_output=True, text=True, timeout=60
    )
    assert files.stdout.strip() == "", files.stdout


def test_rerun_changes_nothing_and_says_so(up: dict, env: dict[str, str]) -> None:
    r = run_cli(*UP, env=env)
    assert r.returncode == 0, r.stderr
    assert "already up and healthy; nothing changed" in r.stdout


def test_killed_container_is_reported_and_brought_back(up: dict, env: dict[str, str]) -> None:
    subprocess.run(["docker", "kill", f"{PROJECT}-kafka-2-1"], check=True, capture_output=True)
    rc, st = status(env)
    kafka = next(s for s in st["services"] if s["name"] == "kafka")
    assert rc == 1 and not st["healthy"] and not kafka["healthy"] and "kafka-2" in kafka["detail"], (
        kafka["detail"],
        kafka["containers"],
    )
    r = run_cli(*UP, env=env)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr
    rc, st = status(env)
    assert rc == 0 and st["healthy"], [
        (s["name"], s["detail"], s["containers"]) for s in st["services"] if not s["healthy"]
    ]


def test_a_new_budget_converges_to_the_new_plan(up: dict, env: dict[str, str]) -> None:
    old = plan_of(env)
    r = run_cli("up", "--services", COMPOSE, "--budget", "15g", "--stack", STACK, env=env)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr
    new = plan_of(env)
    assert new.budget_mib == 15 * 1024 and new.total_mib < old.total_mib
    assert "changed: kafka:" in r.stdout  # says what it changed
    rc, st = status(env)
    assert rc == 0, [(s["name"], s["detail"]) for s in st["services"] if not s["healthy"]]
    for s in st["services"]:
        for c in s["containers"]:
            if s["runtime"] == "compose":
                assert c["limit_mib"] == new.service(s["name"]).containers[c["name"]], c
    r = run_cli(*UP, env=env)  # and back
    assert r.returncode == 0, why_not(r)


def test_restart_waits_until_healthy_again(up: dict, env: dict[str, str]) -> None:
    r = run_cli("restart", "redis", "--stack", STACK, env=env)
    assert r.returncode == 0 and "redis: healthy" in r.stdout, r.stdout + r.stderr


def test_env_and_secrets_give_working_credentials(up: dict, env: dict[str, str]) -> None:
    exported = json.loads(run_cli("env", "--stack", STACK, "--format", "json", env=env).stdout)
    assert exported["KAFKA_BOOTSTRAP_SERVERS"].count(",") == 2
    # REDIS_URL as redis-cli takes it (`redis://:pw@` made redis-cli 7 send an empty user name: WRONGPASS);
    # inside the container, so only the address changes
    userinfo = exported["REDIS_URL"].removeprefix("redis://").split("@")[0]
    ping = subprocess.run(
        ["docker", "exec", f"{PROJECT}-redis-1", "redis-cli", "-u", f"redis://{userinfo}@127.0.0.1:6379/0", "ping"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ping.stdout.strip() == "PONG", ping.stdout + ping.stderr
    rows = json.loads(run_cli("secrets", "--stack", STACK, "--json", env=env).stdout)
    airflow = next(r for r in rows if r["service"] == "airflow")
    import urllib.request

    req = urllib.request.Request(
        "http://127.0.0.1:8088/auth/token",
        data=json.dumps({"username": airflow["user"], "password": airflow["password"]}).encode(),
        headers={"Content-Type": "application/json"},
    )
    assert json.load(urllib.request.urlopen(req, timeout=15))["access_token"]


def test_port_taken_by_another_stack_stops_before_starting(up: dict, env: dict[str, str]) -> None:
    r = run_cli("up", "--profile", "minimal", "--stack", "e2e-other", env=env)
    assert r.returncode == 3, r.stdout + r.stderr
    assert f"held by docker container {PROJECT}-" in r.stderr and "docker stop" in r.stderr
    assert "Traceback" not in r.stderr
    ps = subprocess.run(
        ["docker", "ps", "-aq", "--filter", "label=com.docker.compose.project=devstack-e2e-other"],
        capture_output=True,
        text=True,
    )
    assert ps.stdout.strip() == ""  # nothing half-started
    assert not (Path(env["XDG_STATE_HOME"]) / "devstack" / "e2e-other").exists()  # nor a state dir left behind


def test_port_taken_by_a_process_names_it(up: dict, env: dict[str, str], tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        (tmp_path / "devstack.yaml").write_text(
            f"services:\n  redis:\n    ports: {{redis: {port}}}\n  kafka:\n    ports: {{broker: 29092}}\n"
            "  minio:\n    ports: {s3: 29000, console: 29001}\n"
        )
        r = run_cli("up", "--profile", "minimal", "--stack", "e2e-port", cwd=tmp_path, env=env)
    assert r.returncode == 3, r.stdout + r.stderr
    assert f"port {port}" in r.stderr and f"pid {os.getpid()}" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not (Path(env["XDG_STATE_HOME"]) / "devstack" / "e2e-port").exists()


def test_an_image_that_cannot_be_pulled_stops_before_anything_starts(env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "devstack.yaml").write_text(
        "services:\n  redis:\n    ports: {redis: 26379}\n  kafka:\n    ports: {broker: 29092}\n"
        "  minio:\n    ports: {s3: 29000, console: 29001}\n"
    )
    # a registry on loopback that refuses connections: no traffic leaves the machine
    r = run_cli(
        "up",
        "--profile",
        "minimal",
        "--stack",
        "e2e-pull",
        cwd=tmp_path,
        env={**env, "DEVSTACK_IMAGE_REDIS": "127.0.0.1:1/redis:7"},
    )
    assert r.returncode == 3, r.stdout + r.stderr
    assert "could not pull 127.0.0.1:1/redis:7" in r.stderr and "DEVSTACK_IMAGE_REDIS" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    ps = subprocess.run(
        ["docker", "ps", "-aq", "--filter", "label=com.docker.compose.project=devstack-e2e-pull"],
        capture_output=True,
        text=True,
    )
    assert ps.stdout.strip() == ""
    # the render before the pull (its secrets and files) went with it: a refused up leaves no directory it made
    assert not (Path(env["XDG_STATE_HOME"]) / "devstack" / "e2e-pull").exists()


def test_docker_stopped_gives_the_fix_in_one_line(env: dict[str, str]) -> None:
    r = run_cli(
        "up",
        "--profile",
        "minimal",
        "--stack",
        "e2e-nodocker",
        env={**env, "DOCKER_HOST": "unix:///nonexistent/docker.sock"},
    )
    assert r.returncode == 3
    assert "Docker is not running" in r.stderr and "Fix:" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_a_second_command_waits_its_turn(up: dict, env: dict[str, str]) -> None:
    import fcntl

    lock = Path(env["XDG_STATE_HOME"]) / "devstack" / STACK / ".lock"
    fd = os.open(lock, os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        r = run_cli(*UP, env=env)
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
    assert r.returncode == 3 and "another devstack command is changing stack 'e2e'" in r.stderr
    assert (lock.parent / "compose.yaml").is_file()  # a refused up keeps a state dir it did not make


def test_data_survives_down_and_up_and_volumes_go_with_down_volumes(up: dict, env: dict[str, str]) -> None:
    import urllib.parse
    import urllib.request

    import boto3
    import pg8000.native
    from confluent_kafka import Producer

    from devstack.planning.context import context
    from devstack.runtime.health import resp_command
    from devstack.services import SERVICES

    plan, sec = plan_of(env), secrets_of(env)
    ping = SERVICES["redis"].probe(context(plan, "redis", secrets=sec))  # type: ignore[misc]

    def _redis(*args: str) -> bytes:
        # the stack's admin (Redis's default user): the probe's own user may only PING
        return resp_command(ping.host, ping.port, sec["redis_password"], *args)  # type: ignore[union-attr]

    n = 200
    # write
    topic = f"keep-{uuid.uuid4().hex[:8]}"
    p = Producer({**_kafka_conf(env), "acks": "all"})
    for i in range(n):
        p.produce(topic, f"k{i}".encode())
    assert p.flush(30) == 0
    for i in range(n):
        _redis("SET", f"feat:{i}", str(i))
    ch = f"http://127.0.0.1:8123/?{urllib.parse.urlencode({'user': 'default', 'password': sec['clickhouse_password']})}"

    def chq(sql: str) -> bytes:
        return urllib.request.urlopen(urllib.request.Request(ch, data=sql.encode()), timeout=30).read()

    chq("CREATE TABLE IF NOT EXISTS keep (n UInt32) ENGINE = MergeTree ORDER BY n")
    chq(f"INSERT INTO keep SELECT number FROM system.numbers LIMIT {n}")
    s3 = boto3.client(
        "s3",
        endpoint_url="http://127.0.0.1:9000",
        aws_access_key_id="devstack",
        aws_secret_access_key=sec["minio_password"],
        region_name="us-east-1",
    )
    s3.create_bucket(Bucket="keep")
    for i in range(n):
        s3.put_object(Bucket="keep", Key=f"obj/{i}", Body=str(i).encode())

    def pg() -> pg8000.native.Connection:
        return pg8000.native.Connection(
            "devstack", host="127.0.0.1", port=5432, database="devstack", password=sec["postgres_password"]
        )

    c = pg()
    c.run("CREATE TABLE keep (n int)")
    c.run(f"INSERT INTO keep SELECT generate_series(1, {n})")
    c.close()

    # down (volumes kept), then up
    r = run_cli("down", "--stack", STACK, env=env)
    assert r.returncode == 0 and "kept" in r.stdout, r.stderr
    logs = run_cli("logs", "redis", "--stack", STACK, "--tail", "5", env=env)
    assert logs.returncode == 0 and "last run" in logs.stdout  # the last run's logs outlive the container
    r = run_cli(*UP, env=env)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr

    # read back
    read = {
        "kafka": len(_consume_all(env, topic, n)),
        "redis": sum(_redis("GET", f"feat:{i}").startswith(b"$") for i in range(n)),
        "clickhouse": int(chq("SELECT count() FROM keep")),
        "minio": sum(
            1 for page in s3.get_paginator("list_objects_v2").paginate(Bucket="keep") for _ in page.get("Contents", [])
        ),
    }
    c = pg()
    read["postgres"] = c.run("SELECT count(*) FROM keep")[0][0]
    c.close()
    print("\ndata across down/up: " + ", ".join(f"{k} written {n} read {v} lost {n - v}" for k, v in read.items()))
    assert read == dict.fromkeys(read, n)

    # down --volumes --yes removes them
    r = run_cli("down", "--stack", STACK, "--volumes", "--yes", env=env)
    assert r.returncode == 0 and "deleted" in r.stdout
    vols = subprocess.run(
        ["docker", "volume", "ls", "-q", "--filter", f"label=com.docker.compose.project={PROJECT}"],
        capture_output=True,
        text=True,
    ).stdout.split()
    assert vols == []
