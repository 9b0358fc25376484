"""Kafka's authentication and ACLs as devstack renders and plans them (issue 15.3); the real brokers' answers are
tests/e2e/test_bootstrap.py's."""

from __future__ import annotations

from pathlib import Path

from devstack import pipeline
from devstack.lifecycle.bootstrap.kafka_access import bindings
from devstack.lifecycle.bootstrap.spec import spec_for
from devstack.pipeline.jobs.stream_features import settings
from devstack.planning.plan import PlanRequest, make_plan
from devstack.render.project import render
from devstack.render.state import read_secrets
from devstack.services.kafka import ADMIN, USERS, password_key, principals


def _render(tmp_path: Path) -> Path:
    plan = make_plan(PlanRequest("t", ("kafka", "prometheus"), budget_mib=8 * 1024))
    render(plan, tmp_path / "s", "devstack-t")
    return tmp_path / "s"


def _props(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))


def test_every_listener_asks_for_sasl_and_acls_are_enforced(tmp_path: Path) -> None:
    d = _render(tmp_path)
    for i in (1, 2, 3):
        p = _props((d / f"config/kafka/kafka-{i}/server.properties").read_text())
        names = {x.split("://")[0] for x in p["listeners"].split(",")}
        protocols = dict(x.split(":") for x in p["listener.security.protocol.map"].split(","))
        assert set(protocols) == names == {"INTERNAL", "CONTROLLER", "HOST"}
        assert set(protocols.values()) == {"SASL_PLAINTEXT"}
        assert p["sasl.enabled.mechanisms"] == p["sasl.mechanism.inter.broker.protocol"] == "SCRAM-SHA-512"
        assert p["authorizer.class.name"].endswith("StandardAuthorizer") and p["super.users"] == f"User:{ADMIN}"


def test_every_principal_is_in_the_new_clusters_metadata_and_only_the_containers_get_theirs(tmp_path: Path) -> None:
    d = _render(tmp_path)
    secrets = read_secrets(d)
    args = (d / "config/kafka/kafka-1/scram-users").read_text().splitlines()
    assert args[0::2] == ["--add-scram"] * len(USERS)
    assert args[1::2] == [f"SCRAM-SHA-512=[name={u},password={secrets[password_key(u)]}]" for u in USERS]
    env = (d / ".env").read_text()
    assert f"DEVSTACK_KAFKA_PIPELINE_PASSWORD={secrets[password_key('pipeline')]}" in env
    assert secrets[password_key(ADMIN)] not in env and secrets[password_key("scorer")] not in env
    exporter = (d / "config/prometheus/kafka-exporter/args").read_text().splitlines()
    assert "--sasl.username=exporter" in exporter and f"--sasl.password={secrets[password_key('exporter')]}" in exporter
    assert len(set(secrets[password_key(u)] for u in USERS)) == len(USERS)  # one password each


def test_each_principal_gets_acls_for_its_own_topics_only() -> None:
    by_name = {p.name: p for p in principals(pipeline.KAFKA_TOPICS)}
    assert set(by_name) | {ADMIN} == set(USERS)
    ticks, signals, predictions = pipeline.TICKS_TOPIC, pipeline.SIGNALS_TOPIC, pipeline.PREDICTIONS_TOPIC

    def topics(who: str, op: str) -> set[str]:
        return {n for r, n, _, o in bindings(by_name[who]) if r == "TOPIC" and o == op}

    assert topics("pipeline", "READ") == {ticks} and topics("pipeline", "WRITE") == {signals}
    assert topics("scorer", "READ") == {signals} and topics("scorer", "WRITE") == {predictions}
    assert topics("demo", "READ") == set() and topics("demo", "WRITE") == {ticks}
    assert topics("exporter", "READ") == topics("exporter", "WRITE") == set()
    assert topics("exporter", "DESCRIBE") == {ticks, signals, predictions}
    assert bindings(by_name["probe"]) == []  # its topic has no ACLs: open to any principal that signs in
    # a principal that reads joins its groups; the exporter only describes them
    assert {o for r, _, _, o in bindings(by_name["scorer"]) if r == "GROUP"} == {"READ"}
    assert {o for r, _, _, o in bindings(by_name["exporter"]) if r == "GROUP"} == {"DESCRIBE"}


def test_bootstrap_asks_for_the_principals_only_with_kafka_in_the_plan() -> None:
    import datetime as dt

    today = dt.date(2026, 12, 5)
    with_kafka = make_plan(PlanRequest("t", ("kafka", "redis"), budget_mib=8 * 1024))
    without = make_plan(PlanRequest("t", ("redis",), budget_mib=8 * 1024))
    assert {p.name for p in spec_for(with_kafka, today).principals} == set(USERS) - {ADMIN}
    assert spec_for(without, today).principals == ()


def test_the_spark_job_signs_in_when_given_a_principal() -> None:
    base = {"KAFKA_BOOTSTRAP_SERVERS": "kafka-1:19092", "CLICKHOUSE_URL": "http://clickhouse:8123"}
    assert settings(base).kafka_options() == {"kafka.bootstrap.servers": "kafka-1:19092"}
    opts = settings({**base, "KAFKA_USERNAME": "pipeline", "KAFKA_PASSWORD": "pw"}).kafka_options()
    assert opts["kafka.security.protocol"] == "SASL_PLAINTEXT" and opts["kafka.sasl.mechanism"] == "SCRAM-SHA-512"
    assert opts["kafka.sasl.jaas.config"].endswith('ScramLoginModule required username="pipeline" password="pw";')
    assert "pw" not in repr(settings({**base, "KAFKA_USERNAME": "pipeline", "KAFKA_PASSWORD": "pw"}))
