"""The demo's pure parts: the tick generator, the V2 request the scorer sends, which stacks can run the demo."""

from __future__ import annotations

import json

import pytest

from devstack import pipeline
from devstack.core.errors import UsageError
from devstack.demo import NEEDS, check_plan
from devstack.demo.counts import Counts
from devstack.demo.scorer import v2_request
from devstack.pipeline.ticks import SYMBOLS, ticks
from devstack.planning.config import plan_request, select
from devstack.planning.plan import make_plan
from devstack.render.project import compose_files, has_pipeline


def _plan(services: str):  # type: ignore[no-untyped-def]
    sel = select(profile=None, services=services, budget="16g", config=None, stack="t")
    return make_plan(plan_request(sel, engine_mib=None, host_mib=32768, arch="arm64"))


def test_ticks_are_deterministic_ordered_and_round_robin() -> None:
    a = list(ticks(400, start_ms=1_000_000, spacing_ms=1000, seed=3))
    assert a == list(ticks(400, start_ms=1_000_000, spacing_ms=1000, seed=3))
    assert a != list(ticks(400, start_ms=1_000_000, spacing_ms=1000, seed=4))
    assert [t.symbol for t in a[: len(SYMBOLS)]] == list(SYMBOLS)
    assert [t.seq for t in a] == list(range(400))
    for s in SYMBOLS:
        times = [t.ts_ms for t in a if t.symbol == s]
        assert times == sorted(times) and times[1] - times[0] == 1000
    assert all(t.price > 0 and 1 <= t.size <= 500 for t in a)
    assert json.loads(a[0].to_json()) == {
        "symbol": "ACME",
        "ts_ms": 1_000_000,
        "price": a[0].price,
        "size": a[0].size,
        "seq": 0,
    }


def test_v2_request_names_every_feature_column() -> None:
    rows = [
        {"ret": 0.1, "volatility": 0.01, "vwap_gap": -0.002, "ticks": 10},
        {"ret": -0.1, "volatility": 0.02, "vwap_gap": 0.0, "ticks": 9},
    ]
    req = v2_request(rows)
    assert req["parameters"] == {"content_type": "pd"}
    assert [i["name"] for i in req["inputs"]] == list(pipeline.FEATURES)
    by = {i["name"]: i for i in req["inputs"]}
    assert by["ticks"] == {"name": "ticks", "datatype": "FP64", "shape": [2], "data": [10.0, 9.0]}
    assert by["ret"]["datatype"] == "FP64" and by["ret"]["data"] == [0.1, -0.1]


def test_the_pipeline_file_comes_with_its_services() -> None:
    full = _plan(",".join(NEEDS))
    assert has_pipeline(full) and compose_files(full)[-1] == "pipeline.yaml"
    small = _plan("kafka,redis")
    assert not has_pipeline(small) and "pipeline.yaml" not in compose_files(small)


def test_a_stack_without_the_demos_services_is_refused_with_the_command_that_fixes_it() -> None:
    with pytest.raises(UsageError) as e:
        check_plan(_plan("kafka,redis"), "small")
    assert "spark" in e.value.cause and "devstack up --stack small --services" in e.value.fix
    check_plan(_plan(",".join(NEEDS)), "default")


def test_counts_rows_follow_the_flow() -> None:
    stages = [s for s, _ in Counts(ticks_produced=5).rows()]
    assert stages[0] == "ticks produced by this run" and stages[-1] == "Redis features:*"
    assert stages.index("ClickHouse market.ticks") < stages.index(f"Kafka {pipeline.PREDICTIONS_TOPIC}")
