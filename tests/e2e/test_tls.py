"""The TLS proxy (services/tls.py) in a real stack on the test images: `devstack up` with `tls` planned and the
bind address 0.0.0.0, then each client as `devstack env` hands it out (TLS twins and the stack's CA) talks to its
service over TLS for real: Kafka (SASL_SSL through a broker's own TLS listener: the client reconnects to the
advertised twin), MinIO (boto3), Redis (redis-py's rediss://), ClickHouse (HTTPS and its native protocol's TLS
port), MLflow (HTTPS). A client that does not trust the stack's CA is refused, the plain ports stay on 127.0.0.1
while the twins take the bind address, and a second render keeps the CA."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_cli, up_failed
from tests.shifted_stack import config_path, configure, shifted_env

pytestmark = pytest.mark.engine
STACK = "e2e-tls"
PROJECT = f"devstack-{STACK}"
SERVICES = "kafka,minio,redis,clickhouse,mlflow,tls"
SHIFT = 30300  # every published port moved by a devstack.yaml: no other stack's ports are needed


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    e = shifted_env(
        tmp_path_factory.mktemp("state"),
        SERVICES + ",postgres",
        SHIFT,
        ["KAFKA", "MINIO", "REDIS", "CLICKHOUSE", "MLFLOW", "POSTGRES", "HAPROXY"],
        {"kafka": {"replicas": 1}},
    )
    configure(e, bind="0.0.0.0")  # what the twins are for: the stack reached from other machines
    yield e
    run_cli("down", "--stack", STACK, "--volumes", "--yes", env=e)


@pytest.fixture(scope="module")
def up(env: dict[str, str]) -> dict[str, Any]:
    r = run_cli(
        "up", "--services", SERVICES, "--budget", "6g", "--stack", STACK, "--config", config_path(env), "--json",
        env=env,
    )  # fmt: skip
    assert r.returncode == 0, up_failed(r)
    return dict(json.loads(r.stdout))


@pytest.fixture(scope="module")
def tls_env(env: dict[str, str], up: dict[str, Any]) -> dict[str, str]:
    r = run_cli("env", "--stack", STACK, "--format", "json", env=env)
    assert r.returncode == 0, r.stderr
    return dict(json.loads(r.stdout))


def _trusting(ca: str) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=ca)


def test_up_waits_for_the_proxy_to_serve_the_stacks_certificate(up: dict[str, Any]) -> None:
    tls = up["services"]["tls"]  # one broker, ClickHouse 2, MinIO 2, Redis, MLflow: 7 twins
    assert tls["ok"] and tls["detail"].endswith("on 7 ports, with the stack's certificate"), tls


def test_env_hands_out_the_twins_and_the_ca(tls_env: dict[str, str], env: dict[str, str]) -> None:
    ca = tls_env["DEVSTACK_CA_CERT"]
    assert ca == str(Path(env["XDG_STATE_HOME"]) / "devstack" / STACK / "tls" / "ca.crt")
    assert tls_env["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL" and tls_env["KAFKA_SSL_CA_LOCATION"] == ca
    assert tls_env["KAFKA_BOOTSTRAP_SERVERS"] == f"127.0.0.1:{8445 + SHIFT}"
    assert tls_env["AWS_ENDPOINT_URL"] == f"https://127.0.0.1:{8448 + SHIFT}" and tls_env["AWS_CA_BUNDLE"] == ca
    assert tls_env["REDIS_URL"].startswith("rediss://features:")
    assert tls_env["CLICKHOUSE_URL"] == f"https://127.0.0.1:{8443 + SHIFT}"
    assert tls_env["MLFLOW_TRACKING_URI"] == f"https://127.0.0.1:{8451 + SHIFT}"
    assert tls_env["MLFLOW_TRACKING_SERVER_CERT_PATH"] == ca
    # PostgreSQL has no twin (its TLS is negotiated inside its protocol): its plain address on loopback
    assert tls_env["POSTGRES_URL"].endswith(f"@127.0.0.1:{5432 + SHIFT}/devstack")
    plain = json.loads(run_cli("env", "--stack", STACK, "--format", "json", "--plain", env=env).stdout)
    assert plain["KAFKA_SECURITY_PROTOCOL"] == "SASL_PLAINTEXT" and "DEVSTACK_CA_CERT" not in plain


def test_kafka_over_tls_through_the_advertised_twin(tls_env: dict[str, str]) -> None:
    from confluent_kafka import Consumer, KafkaException, Producer
    from confluent_kafka.admin import AdminClient

    conf = {
        "bootstrap.servers": tls_env["KAFKA_BOOTSTRAP_SERVERS"],
        "security.protocol": tls_env["KAFKA_SECURITY_PROTOCOL"],
        "sasl.mechanisms": tls_env["KAFKA_SASL_MECHANISM"],
        "sasl.username": tls_env["KAFKA_USERNAME"],
        "sasl.password": tls_env["KAFKA_PASSWORD"],
        "ssl.ca.location": tls_env["KAFKA_SSL_CA_LOCATION"],
    }
    # the metadata names the broker at its twin (the TLS listener's advertisement), not its plain port
    meta = AdminClient(conf).list_topics(timeout=30)
    assert {(b.host, b.port) for b in meta.brokers.values()} == {("127.0.0.1", 8445 + SHIFT)}
    topic = f"scratch-tls-{uuid.uuid4().hex[:6]}"  # no ACLs: open to every signed-in principal
    value = uuid.uuid4().hex.encode()
    prod = Producer({**conf, "acks": "all"})
    prod.produce(topic, value)
    assert prod.flush(60) == 0
    cons = Consumer({**conf, "group.id": f"notebook-tls-{uuid.uuid4().hex[:6]}", "auto.offset.reset": "earliest"})
    try:
        cons.subscribe([topic])
        got = None
        for _ in range(60):
            msg = cons.poll(1)
            if msg is not None and msg.error() is None:
                got = msg.value()
                break
        assert got == value
    finally:
        cons.close()
    # without the stack's CA the handshake fails: the system's CAs do not know it
    untrusting = {k: v for k, v in conf.items() if k != "ssl.ca.location"}
    with pytest.raises(KafkaException):
        AdminClient({**untrusting, "log_level": 0, "logger": lambda *a: None}).list_topics(timeout=10)


def test_minio_redis_clickhouse_mlflow_over_tls(tls_env: dict[str, str]) -> None:
    import boto3
    import botocore.exceptions
    import redis

    ca = tls_env["DEVSTACK_CA_CERT"]

    def s3(verify: str | None) -> Any:  # verify None: the system's CAs (botocore's bundle) only
        return boto3.client(
            "s3",
            endpoint_url=tls_env["AWS_ENDPOINT_URL"],
            aws_access_key_id=tls_env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=tls_env["AWS_SECRET_ACCESS_KEY"],
            region_name="us-east-1",
            verify=verify,
        )

    key = f"tls-{uuid.uuid4().hex[:6]}"
    s3(tls_env["AWS_CA_BUNDLE"]).put_object(Bucket="datasets", Key=key, Body=b"over tls")
    assert s3(tls_env["AWS_CA_BUNDLE"]).get_object(Bucket="datasets", Key=key)["Body"].read() == b"over tls"
    with pytest.raises(botocore.exceptions.SSLError):
        s3(None).get_object(Bucket="datasets", Key=key)

    r = redis.from_url(tls_env["REDIS_URL"])
    assert r.ping() is True
    assert r.connection_pool.connection_kwargs.get("ssl_ca_certs") == ca

    req = urllib.request.Request(
        f"{tls_env['CLICKHOUSE_URL']}/?query=SELECT%20version()",
        headers={"X-ClickHouse-User": tls_env["CLICKHOUSE_USER"], "X-ClickHouse-Key": tls_env["CLICKHOUSE_PASSWORD"]},
    )
    with urllib.request.urlopen(req, timeout=30, context=_trusting(ca)) as resp:
        assert resp.read().strip()
    with pytest.raises(urllib.error.URLError) as refused:
        urllib.request.urlopen(req, timeout=30)  # the system's CAs only
    assert isinstance(refused.value.reason, ssl.SSLCertVerificationError)
    # ClickHouse's native protocol's twin: a TLS handshake that verifies the certificate for localhost
    with (
        socket.create_connection(("127.0.0.1", 8444 + SHIFT), timeout=30) as raw,
        _trusting(ca).wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        assert tls.version() in ("TLSv1.2", "TLSv1.3")

    with urllib.request.urlopen(f"{tls_env['MLFLOW_TRACKING_URI']}/health", timeout=30, context=_trusting(ca)) as resp:
        assert resp.read().strip() == b"OK"


def test_plain_ports_stay_on_loopback_while_the_twins_take_the_bind_address(up: dict[str, Any]) -> None:
    out = subprocess.run(
        ["docker", "ps", "--filter", f"label=com.docker.compose.project={PROJECT}", "--format", "{{.Names}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    seen: dict[str, set[str]] = {}  # container -> the host addresses its ports are published on
    for name in out:
        doc = json.loads(subprocess.run(["docker", "inspect", name], capture_output=True, check=True).stdout)[0]
        for bindings in (doc["NetworkSettings"]["Ports"] or {}).values():
            seen.setdefault(name, set()).update(b["HostIp"] for b in bindings or [])
    assert {ip for n, ips in seen.items() if "tls-proxy" in n for ip in ips} == {"0.0.0.0"}, seen
    assert {ip for n, ips in seen.items() if "tls-proxy" not in n for ip in ips} == {"127.0.0.1"}, seen


def test_a_second_render_keeps_the_ca(env: dict[str, str], tls_env: dict[str, str]) -> None:
    ca = Path(tls_env["DEVSTACK_CA_CERT"])
    before = ca.read_bytes(), (ca.parent / "server.pem").read_bytes()
    r = run_cli("render", "--services", SERVICES, "--budget", "6g", "--stack", STACK, "--config", config_path(env),
                env=env)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert (ca.read_bytes(), (ca.parent / "server.pem").read_bytes()) == before
    assert oct(ca.with_name("ca.key").stat().st_mode & 0o777) == "0o600"


def test_the_notebooks_run_from_a_host_python_over_tls(tls_env: dict[str, str]) -> None:
    """As a user runs them outside the stack with `eval "$(devstack env)"`: every endpoint they dial is a twin."""
    import os

    from tests.conftest import REPO
    from tests.notebook_runner import run_notebook_on_host

    venv = subprocess.run(
        ["bash", str(REPO / "tests/testbed/notebook_venv.sh")], capture_output=True, text=True, timeout=900
    )
    assert venv.returncode == 0, venv.stderr[-2000:]
    python = str(Path(venv.stdout.strip()) / "bin" / "python")
    for notebook in ("01_kafka_produce_consume.ipynb", "03_clickhouse_materialized_views.ipynb"):
        result = run_notebook_on_host(python, str(REPO / "notebooks"), notebook, {**os.environ, **tls_env})
        assert result["ok"], f"{notebook} failed on the host over TLS:\n{result['error']}"


def _served_certificate(port: int) -> bytes:
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=30) as raw, ctx.wrap_socket(raw) as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return der


def test_a_new_certificate_reaches_the_proxy_on_the_next_up(env: dict[str, str], tls_env: dict[str, str]) -> None:
    """HAProxy reads its certificate when it starts and render replaces the file whole: `up` recreates the proxy
    when the certificate changed (made again here, as when it nears its end or the bind address moves)."""
    pem = Path(tls_env["DEVSTACK_CA_CERT"]).with_name("server.pem")
    before = _served_certificate(8448 + SHIFT)
    assert ssl.DER_cert_to_PEM_cert(before).strip() in pem.read_text()
    pem.unlink()
    r = run_cli(
        "up", "--services", SERVICES, "--budget", "6g", "--stack", STACK, "--config", config_path(env), "--json",
        env=env,
    )  # fmt: skip
    assert r.returncode == 0, up_failed(r)
    after = _served_certificate(8448 + SHIFT)
    assert after != before and ssl.DER_cert_to_PEM_cert(after).strip() in pem.read_text()
