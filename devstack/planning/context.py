"""A service's view of a plan (base.Ctx), built where a plan is at hand: render, health, endpoints."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from devstack.planning.plan import Plan
from devstack.services import SERVICES
from devstack.services.base import Ctx, Service


def context(
    plan: Plan,
    name: str,
    *,
    secrets: Mapping[str, str] | None = None,
    project: str = "",
    scrape_jobs: Iterable[dict[str, object]] = (),
    alert_rules: Iterable[dict[str, object]] = (),
    via_tls: bool = False,
) -> Ctx:
    by_name = {s.name: s for s in plan.services}
    receivers = tuple(r for s in planned(plan) if (r := s.receives_alerts))
    return Ctx(
        by_name[name],
        by_name,
        plan.bind,
        project,
        dict(secrets or {}),
        tuple(scrape_jobs),
        tuple(alert_rules),
        receivers,
        {n: SERVICES[n].spec.ports for n in by_name},
        via_tls,
    )


def planned(plan: Plan) -> list[Service]:
    """The plan's services, as their modules, in the plan's order."""
    return [SERVICES[s.name] for s in plan.services]
