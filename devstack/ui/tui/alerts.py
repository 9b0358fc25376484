"""What deserves the user's attention between two ticks. Pure: two snapshots' services in, alerts out, so the
rules are unit-tested without a terminal or an engine."""

from __future__ import annotations

from dataclasses import dataclass

from devstack.monitor.sampler import ServiceSample

HOT = 0.90  # share of the limit above which a service is about to be OOM-killed


@dataclass(frozen=True)
class Alert:
    service: str
    kind: str  # memory, oom, restart, unhealthy
    message: str
    severity: str  # warning, error


def pressure(s: ServiceSample) -> float:
    return s.used / s.limit if s.limit else 0.0


def marks(s: ServiceSample, restarts_at_start: int = 0) -> str:
    """The table's mark column: what is wrong with a service right now, in one or two characters."""
    out = ""
    if s.oom_killed:
        out += "☠"
    if s.health in ("unhealthy", "down") and s.state != "missing":
        out += "✖"
    if pressure(s) >= HOT:
        out += "▲"
    if s.restarts > restarts_at_start:
        out += "↻"
    return out


def alerts(before: dict[str, ServiceSample], now: dict[str, ServiceSample]) -> list[Alert]:
    """Transitions only: a service that stays hot or unhealthy is marked in the table, not toasted each tick."""
    out: list[Alert] = []
    for name, s in now.items():
        b = before.get(name)
        if b is None:
            continue
        if pressure(s) >= HOT > pressure(b):
            out.append(
                Alert(
                    name,
                    "memory",
                    f"{name} uses {pressure(s):.0%} of its {s.limit >> 20} MiB limit: it may be OOM-killed",
                    "warning",
                )
            )
        if s.oom_killed and not b.oom_killed:
            out.append(Alert(name, "oom", f"{name} was OOM-killed (limit {s.limit >> 20} MiB)", "error"))
        if s.restarts > b.restarts:
            out.append(Alert(name, "restart", f"{name} restarted ({s.restarts} restarts so far)", "warning"))
        if s.health == "n/a":  # not a container devstack samples (the k3d cluster)
            continue
        turned_bad = s.health in ("unhealthy", "down") and b.health not in ("unhealthy", "down")
        if (turned_bad and s.state != "missing") or (s.state == "missing" and b.state != "missing"):
            why = {"missing": "its containers are gone", "stopped": "it stopped"}.get(s.state, f"it is {s.state}")
            out.append(Alert(name, "unhealthy", f"{name} is {s.health}: {why}", "error"))
    return out
