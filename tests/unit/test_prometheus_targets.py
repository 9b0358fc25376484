"""Parsing Prometheus's /api/v1/targets into what `devstack status` shows per scrape job. The fixture is a real
answer, recorded from the test-bed stack of tests/e2e/test_prometheus.py (Prometheus 2.42; ClickHouse 18.16 there
has no metrics endpoint, so its job is really down)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from devstack.planning.targets import JobHealth, TargetsError, describe, parse_targets, summarize

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "prometheus_targets_testbed.json"
RENDERED_JOBS = ["prometheus", "clickhouse", "minio", "spark-master", "spark-worker", "kafka", "redis"]


@pytest.fixture
def doc() -> dict[str, Any]:
    return dict(json.loads(FIXTURE.read_text()))


def test_every_active_target_is_read(doc: dict[str, Any]) -> None:
    targets = parse_targets(doc)
    assert {t.job for t in targets} == set(RENDERED_JOBS)
    kafka = next(t for t in targets if t.job == "kafka")
    assert kafka.instance == "kafka-exporter:9308" and kafka.url == "http://kafka-exporter:9308/metrics"
    assert kafka.health == "up" and kafka.last_error == "" and kafka.scrape_seconds > 0
    assert kafka.last_scrape.endswith("Z") or "+" in kafka.last_scrape


def test_a_down_job_carries_prometheus_own_reason(doc: dict[str, Any]) -> None:
    jobs = {j.job: j for j in summarize(parse_targets(doc), RENDERED_JOBS)}
    ch = jobs["clickhouse"]
    assert (ch.health, ch.up, ch.total, ch.ok) == ("down", 0, 1, False)
    assert "connection refused" in ch.last_error
    for job in ("prometheus", "minio", "spark-master", "spark-worker", "kafka", "redis"):
        assert jobs[job].ok and jobs[job].last_error == "", jobs[job]


def test_jobs_come_in_the_rendered_order_then_the_rest(doc: dict[str, Any]) -> None:
    got = [j.job for j in summarize(parse_targets(doc), ["redis", "kafka"])]
    assert got[:2] == ["redis", "kafka"] and got[2:] == sorted(set(RENDERED_JOBS) - {"redis", "kafka"})


def test_a_rendered_job_prometheus_does_not_know_is_missing(doc: dict[str, Any]) -> None:
    jobs = {j.job: j for j in summarize(parse_targets(doc), [*RENDERED_JOBS, "mlflow"])}
    assert (
        jobs["mlflow"].health == "missing" and not jobs["mlflow"].ok and "not (re)loaded" in jobs["mlflow"].last_error
    )


def test_a_target_not_scraped_yet_is_unknown_not_up(doc: dict[str, Any]) -> None:
    # the same answer as Prometheus gives before a target's first scrape: health "unknown", no error yet
    for t in doc["data"]["activeTargets"]:
        if t["labels"]["job"] == "redis":
            t["health"], t["lastError"], t["lastScrape"] = "unknown", "", "0001-01-01T00:00:00Z"
    redis = next(j for j in summarize(parse_targets(doc)) if j.job == "redis")
    assert redis.health == "unknown" and not redis.ok


def test_one_line_summary_names_what_is_not_up(doc: dict[str, Any]) -> None:
    assert describe(summarize(parse_targets(doc), RENDERED_JOBS)) == "6/7 targets up (not up: clickhouse)"


def test_a_job_is_up_only_when_all_its_targets_are(doc: dict[str, Any]) -> None:
    kafka = next(t for t in doc["data"]["activeTargets"] if t["labels"]["job"] == "kafka")
    second = json.loads(json.dumps(kafka))
    second["labels"]["instance"] = "kafka-exporter-2:9308"
    second["health"], second["lastError"] = "down", "context deadline exceeded"
    doc["data"]["activeTargets"].append(second)
    job = next(j for j in summarize(parse_targets(doc)) if j.job == "kafka")
    assert (job.health, job.up, job.total, job.last_error) == ("down", 1, 2, "context deadline exceeded")
    assert job.instances == ("kafka-exporter:9308", "kafka-exporter-2:9308")
    assert job.to_dict()["instances"] == ["kafka-exporter:9308", "kafka-exporter-2:9308"]


@pytest.mark.parametrize(
    "bad",
    [
        {"status": "error", "errorType": "bad_data", "error": "invalid parameter"},
        {"status": "success", "data": {}},
        {"status": "success", "data": []},
        [],
    ],
)
def test_an_answer_that_is_not_the_targets_document_is_refused(bad: Any) -> None:
    with pytest.raises(TargetsError):
        parse_targets(bad)


def test_job_health_round_trips_as_json(doc: dict[str, Any]) -> None:
    jobs = summarize(parse_targets(doc), RENDERED_JOBS)
    again = [
        JobHealth(**{**d, "instances": tuple(d["instances"])})
        for d in json.loads(json.dumps([j.to_dict() for j in jobs]))
    ]
    assert again == jobs
