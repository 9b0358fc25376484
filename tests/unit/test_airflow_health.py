"""devstack's reading of Airflow's /api/v2/monitor/health: the DAG processor by the scheduler's 30 s threshold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from devstack.runtime.health import AIRFLOW_HEARTBEAT_S, airflow_not_healthy

NOW = datetime(2026, 12, 3, 0, 0, 0, tzinfo=UTC)


def answer(dag_processor_age_s: float | None, *, status: str = "unhealthy") -> dict[str, Any]:
    """Airflow 3.1.8's answer (airflow/api/common/airflow_health.py), its heartbeats as isoformat with +00:00."""
    beat = None if dag_processor_age_s is None else (NOW - timedelta(seconds=dag_processor_age_s)).isoformat()
    return {
        "metadatabase": {"status": "healthy"},
        "scheduler": {"status": "healthy", "latest_scheduler_heartbeat": NOW.isoformat()},
        "triggerer": {"status": "healthy", "latest_triggerer_heartbeat": NOW.isoformat()},
        "dag_processor": {"status": status, "latest_dag_processor_heartbeat": beat},
    }


def test_a_dag_processor_airflow_calls_unhealthy_after_one_slow_loop_is_healthy() -> None:
    # 12 s: past Airflow 3.1's 2.1 x 5 s, well inside the scheduler's 30 s
    assert airflow_not_healthy(answer(12), NOW) == []


def test_a_dag_processor_silent_for_the_threshold_is_not_healthy() -> None:
    assert airflow_not_healthy(answer(AIRFLOW_HEARTBEAT_S + 1), NOW) == ["dag_processor"]


def test_no_dag_processor_job_yet_is_not_healthy() -> None:
    assert airflow_not_healthy(answer(None, status="unhealthy"), NOW) == ["dag_processor"]
    assert airflow_not_healthy({**answer(None), "dag_processor": {"status": None}}, NOW) == ["dag_processor"]


def test_the_scheduler_and_the_database_keep_airflows_own_verdict() -> None:
    h = answer(0, status="healthy")
    h["scheduler"] = {"status": "unhealthy", "latest_scheduler_heartbeat": NOW.isoformat()}
    h["metadatabase"] = {"status": "unhealthy"}
    assert airflow_not_healthy(h, NOW) == ["metadatabase", "scheduler"]


def test_a_naive_heartbeat_is_read_as_utc() -> None:
    h = answer(None)
    h["dag_processor"]["latest_dag_processor_heartbeat"] = (NOW - timedelta(seconds=5)).replace(tzinfo=None).isoformat()  # type: ignore[index]
    assert airflow_not_healthy(h, NOW) == []


def test_a_stack_whose_triggerer_never_beat_is_not_healthy() -> None:
    """Deferred tasks resume only through the triggerer: Airflow answers null for one that never ran."""
    h = answer(0, status="healthy")
    h["triggerer"] = {"status": None, "latest_triggerer_heartbeat": None}
    assert airflow_not_healthy(h, NOW) == ["triggerer"]
