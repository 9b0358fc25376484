"""Bootstrap's wanted state from the plan (pure), and its ClickHouse schema run through a current ClickHouse
(chdb, in-process): the test bed's server is 18.16, so the SQL is checked against both ends."""

from __future__ import annotations

import datetime as dt

import pytest

from devstack import pipeline
from devstack.lifecycle.bootstrap.spec import SCHEMA_FILE, parse_schema, spec_for, topics_for
from devstack.planning.config import plan_request, select
from devstack.planning.plan import make_plan


def _plan(services: str, budget: str = "16g"):  # type: ignore[no-untyped-def]
    sel = select(profile=None, services=services, budget=budget, config=None, stack="spec")
    return make_plan(plan_request(sel, engine_mib=None, host_mib=32768, arch="arm64"))


@pytest.mark.parametrize(("brokers", "rf", "misr"), [(3, 3, 2), (2, 2, 1), (1, 1, 1)])
def test_topics_follow_the_brokers(brokers: int, rf: int, misr: int) -> None:
    topics = topics_for(brokers)
    assert [t.name for t in topics] == list(pipeline.TOPICS)
    assert {(t.partitions, t.replication, t.min_insync) for t in topics} == {(brokers, rf, misr)}


def test_spec_asks_only_for_planned_services() -> None:
    day = dt.date(2026, 11, 23)
    full = spec_for(_plan("kafka,clickhouse,minio,redis,postgres,mlflow"), day)
    assert full.systems() == ["kafka", "minio", "clickhouse", "mlflow", "redis"]
    assert full.experiment == "pattern-pursuit/2026-11-23"
    assert full.registered_model == pipeline.MODEL_NAME
    assert full.buckets == ("datasets", "models", "mlflow-artifacts")
    assert {t.replication for t in full.topics} == {3}
    only_redis = spec_for(_plan("redis"), day)
    assert only_redis.systems() == ["redis"]
    assert only_redis.feature_ttl_s == pipeline.FEATURE_TTL_SECONDS


def test_spec_is_deterministic() -> None:
    plan = _plan("kafka,clickhouse,minio,redis,postgres,mlflow")
    assert spec_for(plan, dt.date(2026, 1, 2)) == spec_for(plan, dt.date(2026, 1, 2))


def test_mlflow_bucket_is_the_one_mlflow_serves() -> None:
    assert "${DEVSTACK_MLFLOW_BUCKET:-mlflow-artifacts}" in (SCHEMA_FILE.parents[2] / "compose/mlflow.yaml").read_text()


def test_schema_statements_are_create_if_not_exists_in_dependency_order() -> None:
    objects = parse_schema(SCHEMA_FILE.read_text())
    names = [o.name for o in objects]
    assert names[0] == "market"
    assert {"market.ticks", "market.bars_1m", "market.bars_1m_mv", "market.ohlcv_1m", "market.signals"} <= set(names)
    for o in objects:  # a view's source and target come before it
        for ref in ("market.ticks", "market.bars_1m", "market.signals", "market.signal_rate_1m"):
            if ref in o.statement and ref != o.name and o.kind != "TABLE":
                assert names.index(ref) < names.index(o.name), (o.name, ref)
    with pytest.raises(ValueError, match="IF NOT EXISTS"):
        parse_schema("CREATE TABLE t (a UInt8) ENGINE = Memory;")


def test_schema_runs_on_a_current_clickhouse() -> None:
    from chdb import session

    s = session.Session()
    try:
        for o in parse_schema(SCHEMA_FILE.read_text()):
            s.query(o.statement)
        for o in parse_schema(SCHEMA_FILE.read_text()):  # twice: IF NOT EXISTS everywhere
            s.query(o.statement)
        s.query(
            "INSERT INTO market.ticks VALUES ('ACME', toDateTime(1732380000), 1732380000000, 10, 5, 1),"
            " ('ACME', toDateTime(1732380030), 1732380030000, 12, 7, 2),"
            " ('ACME', toDateTime(1732380061), 1732380061000, 11, 1, 3)"
        )
        bars = s.query("SELECT open, high, low, close, volume, trades FROM market.ohlcv_1m ORDER BY minute", "CSV")
        assert str(bars).split() == ["10,12,10,12,12,2", "11,11,11,11,1,1"]
        s.query(
            "INSERT INTO market.signals VALUES ('ACME', toDateTime(1732380000), toDateTime(1732380010), 2, 10, 12,"
            " 11, 0.2, 0.1, 0.05, 1), ('ACME', toDateTime(1732380000), toDateTime(1732380010), 3, 10, 13, 11.5,"
            " 0.3, 0.1, 0.05, 2)"
        )
        latest = s.query("SELECT ticks, close FROM market.signals FINAL", "CSV")
        assert str(latest).split() == ["3,13"]
        assert str(s.query("SELECT sum(rows) FROM market.signal_rate_1m", "CSV")).strip() == "2"
    finally:
        s.close()
