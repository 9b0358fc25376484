"""The sampler's pure parts: aggregation per service, CPU % between ticks, history and peaks, alerts, peaks that
reshare a plan. The engine side is exercised against a real stack in tests/e2e/test_dashboard.py."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import assume, given
from hypothesis import strategies as st

from devstack.core.errors import BudgetTooSmall
from devstack.monitor.sampler import (
    MIB,
    ContainerSample,
    History,
    Peak,
    Snapshot,
    aggregate,
    cpu_percent,
    load_peaks,
    save_peaks,
    snapshot_dict,
)
from devstack.planning.config import plan_request, select
from devstack.planning.peaks import floors, learn, targets
from devstack.planning.plan import Plan, PlanRequest, make_plan
from devstack.ui.tui.alerts import alerts, marks
from devstack.ui.tui.fmt import bar, started_epoch, uptime


def c(
    name: str,
    service: str,
    *,
    state: str = "running",
    health: str | None = "healthy",
    used: int = 100,
    limit: int = 1000,
    restarts: int = 0,
    oom: bool = False,
    exit_code: int = 0,
) -> ContainerSample:
    return ContainerSample(
        id=f"id-{name}",
        name=name,
        service=service,
        state=state,
        health=health,
        restarts=restarts,
        oom_killed=oom,
        exit_code=exit_code,
        started_at="2026-11-23T17:00:00.123456789Z" if state == "running" else "",
        used=used * MIB,
        limit=limit * MIB,
        cpu_pct=5.0,
    )


def snap(*containers: ContainerSample, at: float = 1_000.0) -> Snapshot:
    return Snapshot(at, "p", tuple(containers), 8 << 30, 4 << 30, 6 << 30, None, 0.01)


def test_a_service_is_healthy_only_when_every_long_running_container_is() -> None:
    kafka = [c("kafka-1", "kafka"), c("kafka-2", "kafka"), c("kafka-3", "kafka", state="exited", health=None)]
    s = aggregate("kafka", kafka)
    assert (s.state, s.health) == ("partial", "unhealthy")
    assert s.used == 300 * MIB and s.limit == 3000 * MIB
    assert aggregate("kafka", kafka[:2]).health == "healthy"
    assert aggregate("kafka", [c("kafka-1", "kafka", health="starting")]).health == "starting"
    assert aggregate("kafka", [c("kafka-1", "kafka", state="exited", health=None)]).health == "down"
    assert aggregate("kafka", []).state == "missing"


def test_a_finished_init_container_does_not_make_a_service_unhealthy() -> None:
    s = aggregate("airflow", [c("airflow-init", "airflow", state="exited", health=None), c("airflow-api", "airflow")])
    assert s.health == "healthy"
    assert s.limit == 1000 * MIB  # the one-shot container's limit is not the service's


def test_cpu_percent_is_computed_like_docker_stats() -> None:
    assert cpu_percent(None, (1, 1, 2)) is None
    # 0.5 s of CPU over 1 s of a 2-CPU system's counter (2 s of CPU time in all) = 50 % of one CPU
    assert cpu_percent((0, 0, 2), (500_000_000, 2_000_000_000, 2)) == 50.0
    assert cpu_percent((10, 10, 2), (5, 20, 2)) is None  # a restarted container's counter went back


def test_history_keeps_a_bounded_ring_and_the_peaks() -> None:
    h = History(size=3)
    for i, used in enumerate([100, 400, 200, 150, 120]):
        h.add(snap(c("redis", "redis", used=used), at=float(i)))
    assert len(h.snapshots) == 3
    assert h.peaks["redis"].used_mib == 400 and h.peaks["redis"].limit_mib == 1000
    assert h.total_peak == 400 * MIB
    assert [v // MIB for _, v in h.series("redis")] == [200, 150, 120]
    h.add(Snapshot(9.0, "p", (), 1, 1, 1, "Docker is not running", 0.0))  # a failed tick is not a zero
    assert len(h.snapshots) == 3 and h.series(None)[-1][1] == 120 * MIB


def test_peaks_merge_across_sessions(tmp_path: Path) -> None:
    save_peaks(tmp_path, {"redis": Peak(300, 1024, 1.0)})
    merged = save_peaks(tmp_path, {"redis": Peak(200, 1024, 2.0), "kafka": Peak(900, 3072, 2.0)})
    assert merged["redis"].used_mib == 300 and merged["kafka"].used_mib == 900
    assert load_peaks(tmp_path) == merged
    (tmp_path / "peaks.json").write_text("{broken")
    assert load_peaks(tmp_path) == {}


def test_alerts_fire_on_transitions_only() -> None:
    ok = {"redis": aggregate("redis", [c("redis", "redis", used=500)])}
    hot = {"redis": aggregate("redis", [c("redis", "redis", used=950)])}
    kinds = [a.kind for a in alerts(ok, hot)]
    assert kinds == ["memory"]
    assert alerts(hot, hot) == []  # still hot: marked in the table, not toasted again
    assert marks(hot["redis"]) == "▲"
    dead = {"redis": aggregate("redis", [c("redis", "redis", state="exited", health=None, oom=True, restarts=1)])}
    assert {a.kind for a in alerts(ok, dead)} == {"oom", "restart", "unhealthy"}
    assert set(marks(dead["redis"])) == {"☠", "✖", "↻"}
    gone = {"redis": aggregate("redis", [])}
    assert [a.kind for a in alerts(ok, gone)] == ["unhealthy"]


def test_formatters() -> None:
    assert bar(0, 100, 4) == "    " and bar(100, 100, 4) == "████" and bar(50, 100, 4) == "██  "
    assert bar(1, 0, 3) == "   "
    t = started_epoch("2026-11-23T17:00:00.123456789Z")
    assert t is not None and uptime("2026-11-23T17:00:00.123456789Z", t + 3725) == "1h02m"
    assert uptime("0001-01-01T00:00:00Z", 0) == "-" and uptime("", 0) == "-"


@given(st.integers(min_value=0, max_value=100), st.integers(min_value=1, max_value=40))
def test_bar_never_overflows(percent: int, width: int) -> None:
    assert len(bar(percent, 100, width)) == width


def test_stats_json_shape() -> None:
    s = snap(c("kafka-1", "kafka", used=300), c("redis", "redis", used=50))
    h = History()
    h.add(s)
    d = snapshot_dict(s, ["kafka", "redis", "minio"], {"kafka": 1000}, h)
    json.dumps(d)
    by = {x["name"]: x for x in d["services"]}
    assert by["kafka"]["used_mib"] == 300 and by["kafka"]["percent"] == 30.0 and by["kafka"]["peak_mib"] == 300
    assert by["minio"]["state"] == "missing"
    assert d["stack"]["used_mib"] == 350


def _request(budget: str = "16g") -> PlanRequest:
    sel = select(profile="full", services=None, budget=budget, config=None, stack="t", cwd=Path("/"))
    return plan_request(sel, engine_mib=None, host_mib=None, arch="x86_64")


def _plan(budget: str = "16g") -> Plan:
    return make_plan(_request(budget))


def test_from_peaks_moves_memory_from_a_cold_service_to_a_hot_one() -> None:
    from dataclasses import replace

    req = _request("16g")
    plan = make_plan(req)
    ch, redis = plan.service("clickhouse"), plan.service("redis")
    peaks = {
        "clickhouse": Peak(int(ch.limit_mib * 0.1), ch.limit_mib, 0.0),  # used 10 % of its limit
        "redis": Peak(int(redis.limit_mib * 0.95), redis.limit_mib, 0.0),  # hit 95 %
    }
    learned = learn(plan, peaks)
    assert {x.service for x in learned} == {"clickhouse", "redis"}
    new = make_plan(replace(req, learned_targets=targets(learned), learned_floors=floors(learned)))
    assert new.service("clickhouse").limit_mib < ch.limit_mib
    assert new.service("clickhouse").limit_mib >= new.service("clickhouse").floor_mib
    assert new.service("redis").limit_mib >= redis.limit_mib * 1.3 - 32
    assert new.total_mib <= new.budget_mib
    assert "asks for more" in next(x for x in learned if x.service == "redis").describe()


# one ratio per service of the full profile (12 with Alertmanager)
@given(st.sampled_from(["12g", "16g", "20g", "28g"]), st.lists(st.floats(0.01, 1.2), min_size=12, max_size=12))
def test_from_peaks_never_breaks_the_budget(budget: str, ratios: list[float]) -> None:
    from dataclasses import replace

    req = _request(budget)
    try:
        plan = make_plan(req)
    except BudgetTooSmall:
        assume(False)  # below the profile's floors there is no plan to learn from
    peaks = {
        s.name: Peak(max(1, int(s.limit_mib * r)), s.limit_mib, 0.0) for s, r in zip(plan.services, ratios, strict=True)
    }
    learned = learn(plan, peaks)
    new = make_plan(replace(req, learned_targets=targets(learned), learned_floors=floors(learned)))
    assert new.total_mib <= new.budget_mib
    for s in new.services:
        assert s.limit_mib >= plan.service(s.name).floor_mib


def test_from_peaks_leaves_a_service_in_the_comfortable_band_alone() -> None:
    plan = _plan("16g")
    mid = {s.name: Peak(s.limit_mib // 2, s.limit_mib, 0.0) for s in plan.services}
    assert learn(plan, mid) == []


def test_a_failed_one_shot_container_is_named_with_its_last_error() -> None:
    from devstack.lifecycle.stack import one_shot_failure

    cause = 'Docker said: service "airflow-init" didn\'t complete successfully: exit 1'
    log = "\n".join(
        [
            "DB: postgresql+psycopg2://airflow:***@postgres/airflow",
            "sqlalchemy.exc.OperationalError: password authentication failed",
            "done",
        ]
    )
    got = one_shot_failure(cause, lambda name: log if name == "airflow-init" else "")
    assert got is not None
    what, fix = got
    assert what.startswith("airflow-init failed (exit 1)") and "password authentication failed" in what
    assert "devstack logs airflow-init" in fix and "Airflow" in fix
    assert one_shot_failure("Docker said: no space left on device", lambda n: "") is None
