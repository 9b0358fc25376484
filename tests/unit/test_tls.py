"""The TLS proxy's plan, render and certificates (services/tls.py, render/tls.py), without an engine; the proxy
itself in a real stack: tests/e2e/test_tls.py."""

from __future__ import annotations

import json
import socket
import ssl
import threading
from pathlib import Path

import pytest
import yaml

from devstack.core.resources import compose_dir
from devstack.planning.endpoints import environment
from devstack.planning.plan import PlanRequest, make_plan
from devstack.render.project import render
from devstack.render.state import SECRET_NAMES
from devstack.render.tls import ensure_certificates, server_names
from devstack.services import SERVICES
from devstack.services.base import TLS, TLS_SCHEMES, TLS_SUFFIX
from devstack.services.kafka import TLS_LISTENER_PORT
from tests.unit.test_render import env_of

WITH_TLS = ("kafka", "minio", "redis", "clickhouse", "mlflow", "spark", "jupyter", "prometheus", "alertmanager")


def _plan(services: tuple[str, ...], bind: str = "127.0.0.1"):
    return make_plan(PlanRequest("t", services, budget_mib=20 * 1024, bind=bind))


def _twins():
    return [(s.name, p) for s in SERVICES.values() for p in s.spec.ports if p.tls_of]


def test_every_twin_names_its_plain_port_and_forwards_where_the_compose_file_publishes_it() -> None:
    """One fact in one place: a twin's target and container port are checked against the shipped Compose file that
    publishes its plain port (Kafka's twin goes to the broker's TLS listener instead)."""
    assert {n for n, _ in _twins()} == set(WITH_TLS) | {"airflow"}
    for name, twin in _twins():
        spec = SERVICES[name].spec
        plain = next(p for p in spec.ports if p.name == twin.tls_of)
        assert twin.name == plain.name + TLS_SUFFIX
        assert twin.scheme == TLS_SCHEMES.get(plain.scheme, plain.scheme), twin
        assert spec.compose_file is not None
        doc = yaml.safe_load((compose_dir() / spec.compose_file).read_text())
        target = (twin.target or name).replace("{i}", "1")
        published = [str(p) for p in doc["services"][target].get("ports", [])]
        mine = [p for p in published if f"_PORT_{plain.name.upper().replace('-', '_')}" in p or "_PORT_1" in p]
        assert mine and mine[0].endswith(f":{plain.container}"), (name, twin, published)
        want = TLS_LISTENER_PORT if name == "kafka" else plain.container
        assert twin.container == want, twin


def test_postgres_and_sparks_rpc_have_no_twin() -> None:
    """What the README says TLS does not cover."""
    names = {(n, p.tls_of) for n, p in _twins()}
    assert ("postgres", "sql") not in names and ("spark", "master") not in names


def test_twins_are_planned_only_with_the_proxy() -> None:
    without = _plan(("kafka", "minio"))
    assert not any(n.endswith(TLS_SUFFIX) for s in without.services for n in s.ports)
    with_tls = _plan(("kafka", "minio", TLS))
    assert with_tls.service("kafka").ports["broker-tls"] == [8445, 8446, 8447]
    assert with_tls.service("minio").ports["s3-tls"] == [8448]
    assert with_tls.service(TLS).containers == {"tls-proxy": with_tls.service(TLS).containers["tls-proxy"]}


def test_render_forwards_each_twin_and_moves_the_plain_ports_to_loopback(tmp_path: Path) -> None:
    plan = _plan(("kafka", "minio", "redis", "clickhouse", TLS), bind="0.0.0.0")
    d = tmp_path / "stack"
    render(plan, d, "devstack-t")
    env = env_of(d)
    assert env["DEVSTACK_BIND"] == "127.0.0.1" and env["DEVSTACK_TLS_BIND"] == "0.0.0.0"
    cfg = (d / "config/tls/haproxy.cfg").read_text()
    assert "bind :8445 ssl crt /usr/local/etc/haproxy/tls/server.pem" in cfg
    assert f"server kafka-3 kafka-3:{TLS_LISTENER_PORT}" in cfg and "server minio minio:9000" in cfg
    assert "server clickhouse clickhouse:9000" in cfg and "server redis redis:6379" in cfg
    compose = yaml.safe_load((d / "compose/tls.yaml").read_text())["services"]["tls-proxy"]
    for spec in compose["ports"]:  # each published twin names its .env variable, which holds the planned port
        var = spec.split("${")[2].split(":-")[0]
        host, container = env[var], spec.rsplit(":", 1)[1]
        assert host == container, spec
    kafka = (d / "config/kafka/kafka-2/server.properties").read_text()
    assert f"TLS://:{TLS_LISTENER_PORT}" in kafka and "TLS://127.0.0.1:8446" in kafka
    assert "TLS:SASL_PLAINTEXT" in kafka and "listener.name.tls.scram-sha-512.sasl.jaas.config=" in kafka
    assert (d / "tls/ca.key").stat().st_mode & 0o777 == 0o600


def test_without_the_proxy_nothing_of_it_is_rendered(tmp_path: Path) -> None:
    d = tmp_path / "stack"
    render(_plan(("kafka", "minio"), bind="0.0.0.0"), d, "devstack-t")
    env = env_of(d)
    assert env["DEVSTACK_BIND"] == "0.0.0.0" and "DEVSTACK_TLS_BIND" not in env
    assert not (d / "tls").exists() and not (d / "compose/tls.yaml").exists()
    assert "TLS://" not in (d / "config/kafka/kafka-1/server.properties").read_text()


def test_env_hands_clients_the_twins_and_the_ca_and_devstacks_own_clients_the_plain_ports() -> None:
    plan = _plan(("kafka", "minio", "redis", "clickhouse", "mlflow", "postgres", TLS))
    secrets = {k: "pw" for k in SECRET_NAMES}
    plain = environment(plan, secrets)
    tls = environment(plan, secrets, "/s/tls/ca.crt")
    assert plain["KAFKA_SECURITY_PROTOCOL"] == "SASL_PLAINTEXT" and "DEVSTACK_CA_CERT" not in plain
    assert plain["AWS_ENDPOINT_URL"] == "http://127.0.0.1:9000"
    assert tls["KAFKA_BOOTSTRAP_SERVERS"] == "127.0.0.1:8445,127.0.0.1:8446,127.0.0.1:8447"
    assert tls["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL" and tls["KAFKA_SSL_CA_LOCATION"] == "/s/tls/ca.crt"
    assert tls["AWS_ENDPOINT_URL"] == "https://127.0.0.1:8448" and tls["AWS_CA_BUNDLE"] == "/s/tls/ca.crt"
    assert tls["REDIS_URL"] == "rediss://features:pw@127.0.0.1:8450/0?ssl_ca_certs=/s/tls/ca.crt"
    assert tls["MLFLOW_TRACKING_URI"] == "https://127.0.0.1:8451"
    assert tls["MLFLOW_TRACKING_SERVER_CERT_PATH"] == "/s/tls/ca.crt"
    assert tls["POSTGRES_URL"] == plain["POSTGRES_URL"]  # no twin: its plain address
    assert tls["DEVSTACK_CA_CERT"] == "/s/tls/ca.crt"
    # a CA without the proxy planned changes nothing
    assert environment(_plan(("kafka",)), secrets, "/s/tls/ca.crt") == environment(_plan(("kafka",)), secrets)


def _handshake(server_pem: Path, ca: Path, name: str) -> str:
    srv = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    srv.load_cert_chain(str(server_pem))
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def serve() -> None:
        conn, _ = listener.accept()
        try:
            with srv.wrap_socket(conn, server_side=True) as s:
                s.sendall(b"ok")
        except ssl.SSLError:
            pass

    threading.Thread(target=serve, daemon=True).start()
    try:
        ctx = ssl.create_default_context(cafile=str(ca))
        with ctx.wrap_socket(socket.create_connection(listener.getsockname()), server_hostname=name) as c:
            return c.recv(2).decode()
    finally:
        listener.close()


@pytest.mark.parametrize("name", ["localhost", "127.0.0.1", "::1", "192.168.7.9"])
def test_the_server_certificate_verifies_for_every_name_it_carries(tmp_path: Path, name: str) -> None:
    certs = ensure_certificates(tmp_path / "tls", "192.168.7.9", "t", hostname="box")
    assert certs.names == ("localhost", "127.0.0.1", "::1", "box", "192.168.7.9")
    assert _handshake(certs.server, certs.ca, name) == "ok"


def test_a_name_it_does_not_carry_is_refused(tmp_path: Path) -> None:
    certs = ensure_certificates(tmp_path / "tls", "127.0.0.1", "t", hostname="box")
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(certs.server, certs.ca, "example.org")


def test_the_ca_is_kept_and_the_server_certificate_follows_the_bind_address(tmp_path: Path) -> None:
    d = tmp_path / "tls"
    first = ensure_certificates(d, "127.0.0.1", "t", hostname="box")
    ca, server = first.ca.read_bytes(), first.server.read_bytes()
    assert first.made == ("ca", "server")
    again = ensure_certificates(d, "127.0.0.1", "t", hostname="box")
    assert again.made == () and first.server.read_bytes() == server
    moved = ensure_certificates(d, "10.0.0.5", "t", hostname="box")
    assert moved.made == ("server",) and first.ca.read_bytes() == ca and first.server.read_bytes() != server
    assert _handshake(moved.server, moved.ca, "10.0.0.5") == "ok"
    # a server certificate from another CA (a stack dir copied over) is made again
    (d / "server.pem").write_bytes(server)
    other = tmp_path / "other"
    ensure_certificates(other, "10.0.0.5", "o", hostname="box")
    (d / "server.pem").write_bytes((other / "server.pem").read_bytes())
    assert ensure_certificates(d, "10.0.0.5", "t", hostname="box").made == ("server",)


def test_a_wildcard_bind_adds_no_name() -> None:
    assert server_names("0.0.0.0", "box") == server_names("::", "box") == ("localhost", "127.0.0.1", "::1", "box")


def test_tls_true_in_devstack_yaml_adds_the_proxy_to_any_selection(tmp_path: Path) -> None:
    from devstack.planning.config import select

    (tmp_path / "devstack.yaml").write_text("tls: true\n")
    assert TLS in select(profile="minimal", services=None, budget=None, config=None, stack=None, cwd=tmp_path).services
    chosen = select(profile=None, services="redis", budget=None, config=None, stack=None, cwd=tmp_path).services
    assert chosen == ("redis", TLS)


def test_the_rendered_project_passes_docker_compose_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As Compose reads it: the proxy publishes every twin on the bind address, everything else stays on
    127.0.0.1, and the proxy is on both networks (it forwards to services of either)."""
    import subprocess

    monkeypatch.delenv("COMPOSE_PROFILES", raising=False)
    plan = _plan(("kafka", "minio", "redis", "clickhouse", "mlflow", "spark", "jupyter", TLS), bind="0.0.0.0")
    d = tmp_path / "stack"
    render(plan, d, "devstack-t")
    r = subprocess.run(
        ["docker", "compose", "--project-directory", str(d), "config", "--format", "json"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    services = json.loads(r.stdout)["services"]
    proxy = services.pop("tls-proxy")
    twins = {p for s in plan.services for n, ps in s.ports.items() if n.endswith(TLS_SUFFIX) for p in ps}
    assert {int(p["published"]) for p in proxy["ports"]} == twins
    assert {p["host_ip"] for p in proxy["ports"]} == {"0.0.0.0"}
    assert set(proxy["networks"]) == {"stream", "store"}
    assert {p["host_ip"] for s in services.values() for p in s.get("ports", [])} == {"127.0.0.1"}


def test_the_proxy_is_recreated_when_its_certificate_or_config_changes(tmp_path: Path) -> None:
    """Compose recreates a container whose configuration changed: the labels carry both files' hashes."""
    d = tmp_path / "stack"
    render(_plan(("redis", TLS)), d, "devstack-t")
    compose = (d / "compose/tls.yaml").read_text()
    cert, config = env_of(d)["DEVSTACK_TLS_CERT_HASH"], yaml.safe_load(compose)["services"]["tls-proxy"]["labels"]
    assert config["dev.devstack.tls-certificate"] == "${DEVSTACK_TLS_CERT_HASH:-}" and len(cert) == 12
    (d / "tls/server.pem").unlink()
    render(_plan(("redis", TLS)), d, "devstack-t")
    assert env_of(d)["DEVSTACK_TLS_CERT_HASH"] != cert
    assert (d / "compose/tls.yaml").read_text() == compose  # same config: the same label
    render(_plan(("redis", "minio", TLS)), d, "devstack-t")
    labels = yaml.safe_load((d / "compose/tls.yaml").read_text())["services"]["tls-proxy"]["labels"]
    assert labels["dev.devstack.tls-config"] != config["dev.devstack.tls-config"]
