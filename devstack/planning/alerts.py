"""Prometheus's alerts, as `devstack status` reports them. Pure: JSON in, values out; no I/O.

Prometheus answers `GET /api/v1/alerts` with every alert its rules hold active: `pending` while the expression is
true for less than the rule's `for`, `firing` after that. The rules come from the services' modules
(config/prometheus/rules/devstack.yml); Alertmanager, when planned, receives the firing ones. Prometheus is asked
rather than Alertmanager so status shows alerts with or without it. Fetching lives in runtime/health.py."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any


class AlertsError(ValueError):
    """The answer is not Prometheus's alerts document."""


@dataclass(frozen=True)
class ActiveAlert:
    name: str
    state: str  # pending, firing
    severity: str
    service: str  # the devstack service it is about (its `service` label), "" when it has none
    summary: str
    since: str  # RFC 3339, when the expression first held
    labels: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_alerts(doc: Mapping[str, Any]) -> list[ActiveAlert]:
    """The active alerts of a `/api/v1/alerts` answer, firing before pending, then by name. Raises AlertsError
    when the document is not one."""
    if not isinstance(doc, Mapping) or doc.get("status") != "success":
        err = doc.get("error") if isinstance(doc, Mapping) else None
        raise AlertsError(f"Prometheus did not answer with its alerts: {err or 'status is not success'}")
    data = doc.get("data")
    items = data.get("alerts") if isinstance(data, Mapping) else None
    if not isinstance(items, list):
        raise AlertsError("Prometheus's answer has no data.alerts list")
    out = []
    for a in items:
        labels = {str(k): str(v) for k, v in (a.get("labels") or {}).items()}
        out.append(
            ActiveAlert(
                name=labels.get("alertname", "?"),
                state=str(a.get("state", "")),
                severity=labels.get("severity", ""),
                service=labels.get("service", ""),
                summary=str((a.get("annotations") or {}).get("summary", "")),
                since=str(a.get("activeAt", "")),
                labels=labels,
            )
        )
    return sorted(out, key=lambda x: (x.state != "firing", x.name, x.service, sorted(x.labels.items())))
