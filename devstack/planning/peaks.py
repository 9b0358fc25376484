"""Learning from observed peaks: a service that never used much of its limit gives memory to one that ran hot.
Pure: the current plan and the recorded peaks in, per-replica targets for the planner and the reasons out.

The rule is deliberately simple and explainable: below 30 % of its limit at its peak, a service's target drops
to its peak plus half again (never under its floor); at 90 % or more, it is promised 130 % of the limit it had
(its floor rises to that, never over its ceiling, and only while the raised floors still fit the budget).
Everything else keeps the seed's target. The planner then shares the budget as always.
"""

from __future__ import annotations

from dataclasses import dataclass

from devstack.planning.plan import STEP_MIB, Plan, PlanRequest, make_plan

COLD, HOT = 0.30, 0.90


@dataclass
class Peak:
    """The most a service was seen using, against its limit then (the monitor records them, peaks.json keeps them)."""

    used_mib: int
    limit_mib: int
    at: float

    @property
    def ratio(self) -> float:
        return self.used_mib / self.limit_mib if self.limit_mib else 0.0


@dataclass(frozen=True)
class Learned:
    service: str
    peak_mib: int
    limit_mib: int
    old_target_mib: int  # per replica
    new_target_mib: int  # per replica
    new_floor_mib: int = 0  # per replica; set for a service that ran hot

    @property
    def ratio(self) -> float:
        return self.peak_mib / self.limit_mib if self.limit_mib else 0.0

    def describe(self) -> str:
        head = f"{self.service} peaked at {self.peak_mib} MiB of {self.limit_mib} MiB ({self.ratio:.0%})"
        if self.new_floor_mib:
            return f"{head}: asks for more, at least {self.new_floor_mib} MiB per container"
        return f"{head}: gives memory back, target {self.old_target_mib} -> {self.new_target_mib} MiB per container"


def _step_up(mib: float) -> int:
    return int(-(-mib // STEP_MIB) * STEP_MIB)


def learn(plan: Plan, peaks: dict[str, Peak]) -> list[Learned]:
    out = []
    spare = plan.budget_mib - sum(s.floor_mib for s in plan.services)  # what raised floors may take
    for s in plan.services:
        p = peaks.get(s.name)
        if p is None or s.pinned or s.runtime != "compose":
            continue
        limit = p.limit_mib or s.limit_mib
        if not limit:
            continue
        replicas = max(1, s.replicas)
        target, floor, ceiling = s.target_mib // replicas, s.floor_mib // replicas, s.ceiling_mib // replicas
        ratio = p.used_mib / limit
        if ratio < COLD:
            new = min(target, max(floor, _step_up(p.used_mib * 1.5 / replicas)))
            if new != target:
                out.append(Learned(s.name, p.used_mib, limit, target, new))
        elif ratio >= HOT:
            want = min(ceiling, _step_up(limit * 1.3 / replicas))
            raise_by = (want - floor) * replicas
            if want > limit // replicas and 0 < raise_by <= spare:
                spare -= raise_by
                out.append(Learned(s.name, p.used_mib, limit, target, max(target, want), want))
    return out


def targets(learned: list[Learned]) -> dict[str, int]:
    return {x.service: x.new_target_mib for x in learned}


def floors(learned: list[Learned]) -> dict[str, int]:
    return {x.service: x.new_floor_mib for x in learned if x.new_floor_mib}


def plan_with_peaks(req: PlanRequest, peaks: dict[str, Peak]) -> tuple[Plan, list[Learned]]:
    """The plan for `req`, reshared by what the peaks taught; the planner's own rules still hold."""
    from dataclasses import replace

    base = make_plan(req)
    learned = learn(base, peaks)
    if not learned:
        return base, []
    return make_plan(replace(req, learned_targets=targets(learned), learned_floors=floors(learned))), learned
