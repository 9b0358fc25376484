"""Prometheus's alerts as status shows them (issue 15.2). The fixture is a real answer of the test bed's
Prometheus 3.7.3 (/api/v1/alerts) with one rule firing and one pending."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from devstack.planning.alerts import AlertsError, parse_alerts
from devstack.ui.output import print_alerts

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "prometheus_alerts_testbed.json"


def test_a_real_answer_is_read_firing_first() -> None:
    alerts = parse_alerts(json.loads(FIXTURE.read_text()))
    assert [(a.name, a.state, a.severity, a.service) for a in alerts] == [
        ("TargetDown", "firing", "critical", "redis"),
        ("TargetDownLong", "pending", "warning", "redis"),
    ]
    assert alerts[0].summary == "redis (redis) has not answered Prometheus for a minute"
    assert alerts[0].since.startswith("2026-") and alerts[0].labels["job"] == "redis"


@pytest.mark.parametrize(
    "doc",
    [{"status": "error", "error": "bad"}, {"status": "success", "data": {}}, {"status": "success"}, []],
    ids=["error status", "no alerts list", "no data", "not a mapping"],
)
def test_an_answer_that_is_not_the_alerts_document_is_refused(doc: object) -> None:
    with pytest.raises(AlertsError):
        parse_alerts(doc)  # type: ignore[arg-type]


def test_status_prints_each_alert_on_one_row_at_80_columns() -> None:
    alerts = [a.to_dict() for a in parse_alerts(json.loads(FIXTURE.read_text()))]
    console = Console(file=io.StringIO(), width=80, color_system=None)
    print_alerts(console, alerts)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "TargetDown " in text and "firing" in text and "pending" in text and "2026-12-05 16:42:32" in text
