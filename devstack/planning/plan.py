"""The memory-budget planner. Pure: facts and settings in, a plan out; no I/O.

How a budget is shared, in a fixed order (which is what makes "more budget never gives any service less" true):
1. every selected service gets its floor, with the fewest replicas it can run (Kafka: 1 broker);
2. replicated services get their seed replica count (Kafka: 3 brokers) if the budget holds their floors; if
   not, the plan stops there and says so (skipping ahead would let a later budget take memory back);
3. what is left fills every service toward its seed target at once, weighted by priority (weighted
   water-filling: each service's share grows with one common level, so all grow together as the budget does);
4. nothing goes above a target, so a budget larger than the targets leaves memory unallocated.
Per-service limits then become each service's own knobs (`knobs.py`), always inside their containers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from devstack.core.errors import BudgetTooLarge, BudgetTooSmall, UsageError
from devstack.core.knobs import with_exporters
from devstack.core.units import fmt_mib
from devstack.planning.catalog import (
    CATALOG,
    SEED_GROUP_SHARE_MIB,
    SEED_PEAK_MIB,
    Group,
    Runtime,
    closure,
    exporters_for,
    is_one_shot,
)
from devstack.planning.settings import ServiceSettings
from devstack.services import SERVICES, SIZERS, register_addons
from devstack.services.addon import AddonDecl, addon_service
from devstack.services.base import LOOPBACK, TLS

PRIORITY_WEIGHT = {1: 1.0, 2: 0.7, 3: 0.4}
STEP_MIB = 32


def engine_reserve(engine_mib: int) -> int:
    """What the engine's VM keeps for its own kernel, dockerd and containerd."""
    return max(1024, engine_mib // 10)


def host_reserve(host_mib: int) -> int:
    """What the host keeps for the OS and the user's own apps (browser, IDE) beside the stack."""
    return max(2048, host_mib * 15 // 100)


@dataclass(frozen=True)
class PlanRequest:
    """Everything the planner needs, gathered by the caller (CLI, TUI, tests)."""

    profile: str
    services: tuple[str, ...]
    settings: Mapping[str, ServiceSettings] = field(default_factory=dict)
    budget_mib: int | None = None
    budget_source: str = ""
    engine_mib: int | None = None
    host_mib: int | None = None
    bind: str = "127.0.0.1"
    image_env: Mapping[str, str] = field(default_factory=dict)  # DEVSTACK_IMAGE_* from the environment
    arch: str = ""
    # per-replica targets learned from observed peaks (`plan --from-peaks`), kept between floor and ceiling
    learned_targets: Mapping[str, int] = field(default_factory=dict)
    learned_floors: Mapping[str, int] = field(default_factory=dict)  # raised for services that ran hot
    # devstack.yaml's `alerts:`: rule name -> {"threshold": float, "for": "5m", "enabled": bool}, as given
    alerts: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class ServicePlan:
    name: str
    title: str
    group: str
    runtime: str
    priority: int
    replicas: int
    limit_mib: int  # all replicas together
    floor_mib: int  # at the planned replica count
    target_mib: int
    ceiling_mib: int
    pinned: bool  # the user fixed its memory
    containers: dict[str, int]
    knobs: dict[str, str]
    ports: dict[str, list[int]]  # port name -> host ports (one per replica for Kafka)
    images: dict[str, str]

    def long_running(self) -> list[str]:
        """Its Compose containers that should keep running (not the one-shots), none for a k3d service."""
        return [c for c in self.containers if not is_one_shot(c)] if self.runtime == Runtime.COMPOSE.value else []


@dataclass(frozen=True)
class Plan:
    profile: str
    budget_mib: int
    budget_source: str
    total_mib: int
    unallocated_mib: int
    bind: str
    services: tuple[ServicePlan, ...]
    groups: dict[str, dict[str, int]]  # group -> {"planned": MiB, "seed_share": MiB scaled to the budget}
    reasons: tuple[str, ...]  # what the budget cost, in the seed's terms
    notes: tuple[str, ...]  # facts worth knowing that are not a shortfall
    engine_mib: int | None
    host_mib: int | None
    arch: str
    # the planned add-ons' declarations from devstack.yaml (services/addon.py), so a later command knows them
    addons: dict[str, dict[str, Any]] = field(default_factory=dict)
    # the alert settings it was planned with (PlanRequest.alerts), so a later render writes the same rules
    alerts: dict[str, dict[str, Any]] = field(default_factory=dict)

    def service(self, name: str) -> ServicePlan:
        for s in self.services:
            if s.name == name:
                return s
        raise KeyError(name)

    def names(self) -> list[str]:
        return [s.name for s in self.services]

    @property
    def plain_bind(self) -> str:
        """Where the plain ports are published: the bind address, or loopback when the TLS proxy takes it."""
        return LOOPBACK if TLS in self.names() else self.bind

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def engine_room(req: PlanRequest) -> int | None:
    """What the engine can give the stack when the user's budget asks for more, else None. A budget devstack
    chose itself never does (choose_budget takes the engine's memory into account)."""
    if req.budget_mib is None or not req.engine_mib:
        return None
    room = req.engine_mib - engine_reserve(req.engine_mib)
    return room if req.budget_mib > room else None


def refuse_over_engine(req: PlanRequest) -> None:
    """`plan` and `up` without --force: a budget the engine cannot give is bad input, not a footnote."""
    room = engine_room(req)
    if room is None:
        return
    assert req.engine_mib is not None and req.budget_mib is not None
    raise BudgetTooLarge(
        f"the budget ({fmt_mib(req.budget_mib)}, from {req.budget_source or '--budget'}) is more than the Docker "
        f"engine can give ({fmt_mib(req.engine_mib)} less {fmt_mib(engine_reserve(req.engine_mib))} reserve = "
        f"{fmt_mib(room)}): containers would be OOM-killed.",
        f"plan with --budget {room // 1024}g or less, give Docker more memory (Docker Desktop: Settings > "
        "Resources > Memory; `devstack doctor` says how), or add --force to plan it anyway.",
    )


def choose_budget(req: PlanRequest) -> tuple[int, str]:
    """The user's budget if set, else the smallest of the seed's peak, the engine's and the host's memory."""
    if req.budget_mib is not None:
        return req.budget_mib, req.budget_source or "--budget"
    options = [(SEED_PEAK_MIB, "the seed's 28 GiB peak")]
    if req.engine_mib:
        options.append(
            (
                req.engine_mib - engine_reserve(req.engine_mib),
                f"the Docker engine's {fmt_mib(req.engine_mib)} less reserve",
            )
        )
    if req.host_mib:
        options.append((req.host_mib - host_reserve(req.host_mib), f"host RAM {fmt_mib(req.host_mib)} less reserve"))
    return min(options)


def _round_up_half_gib(mib: int) -> str:
    return f"{math.ceil(mib / 512) / 2:g}g"


def _resolve_ports(
    services: list[str], settings: Mapping[str, ServiceSettings], replicas: dict[str, int]
) -> dict[str, dict[str, list[int]]]:
    out: dict[str, dict[str, list[int]]] = {}
    owner: dict[int, str] = {}
    for name in services:
        spec = CATALOG[name]
        chosen = (settings.get(name) or ServiceSettings()).ports or {}
        out[name] = {}
        for p in spec.ports:
            if p.tls_of and TLS not in services:  # a TLS twin is published only by the TLS proxy
                continue
            base = chosen.get(p.name, p.host)
            hosts = [base + i for i in range(replicas[name])] if p.per_replica else [base]
            for h in hosts:
                if h in owner:
                    raise UsageError(
                        f"host port {h} is given to both {owner[h]} and {name}.{p.name}.",
                        f"set services.{name}.ports.{p.name} to a free port in devstack.yaml.",
                    )
                owner[h] = f"{name}.{p.name}"
            out[name][p.name] = hosts
    return out


def _resolve_images(name: str, s: ServiceSettings, env: Mapping[str, str], services: list[str]) -> dict[str, str]:
    spec = CATALOG[name]
    images = {}
    # an exporter whose service is not planned does not run: its image is neither pulled nor rendered
    idle = {e.image_key for e in spec.exporters} - {e.image_key for e in exporters_for(name, services)}
    for key, image in spec.images.items():
        if key in idle:
            continue
        ref = image.ref
        if s.image and len(spec.images) == 1:
            ref = s.image
        if s.images and key in s.images:
            ref = s.images[key]
        # the environment wins, as it does for Compose's own interpolation of the stack's .env
        ref = env.get(f"DEVSTACK_IMAGE_{key.upper()}", ref)
        images[key] = ref
    return images


def _drop_suggestion(services: list[str], floors: dict[str, int], budget: int) -> list[str]:
    """Services to drop, cheapest in value first, that would make the floors fit; never a dependency of one kept."""
    kept = list(services)
    dropped: list[str] = []
    order = sorted(services, key=lambda n: (-CATALOG[n].priority, -floors[n], n))
    for name in order:
        if sum(floors[n] for n in kept) <= budget:
            break
        if any(name in CATALOG[k].depends_on for k in kept if k != name):
            continue
        kept.remove(name)
        dropped.append(name)
    return dropped if sum(floors[n] for n in kept) <= budget else []


@dataclass(frozen=True)
class _Sizes:
    """Per-replica floor, target and ceiling of each selected service (exporters and learned peaks included), and
    its fewest and wanted replicas: what the planner shares the budget by."""

    floor: dict[str, int]
    target: dict[str, int]
    ceiling: dict[str, int]
    min_r: dict[str, int]
    want_r: dict[str, int]


def _sizes(req: PlanRequest, services: list[str], settings: Mapping[str, ServiceSettings]) -> _Sizes:
    per_floor: dict[str, int] = {}
    per_target: dict[str, int] = {}
    per_ceiling: dict[str, int] = {}
    min_r: dict[str, int] = {}
    want_r: dict[str, int] = {}
    for n in services:
        spec, s = CATALOG[n], settings[n]
        mem = spec.memory
        per_floor[n], per_target[n], per_ceiling[n] = (
            (s.memory, s.memory, s.memory) if s.memory else (mem.floor, mem.target, mem.ceiling)
        )
        if not s.memory:  # exporters come on top of the service's own sizes; a pinned limit holds them too
            beside = sum(e.memory_mib for e in exporters_for(n, services))
            per_floor[n], per_target[n], per_ceiling[n] = (
                v + beside for v in (per_floor[n], per_target[n], per_ceiling[n])
            )
        # learned from peaks (`plan --from-peaks`): per-replica figures as a plan shows them, exporters included
        if n in req.learned_floors and not s.memory:
            per_floor[n] = max(per_floor[n], min(per_ceiling[n], req.learned_floors[n]))
        if n in req.learned_targets and not s.memory:
            per_target[n] = max(per_floor[n], min(per_ceiling[n], req.learned_targets[n]))
        want_r[n] = s.replicas or spec.replicas
        min_r[n] = s.replicas or spec.min_replicas
    return _Sizes(per_floor, per_target, per_ceiling, min_r, want_r)


def floors_mib(req: PlanRequest) -> int:
    """The least budget the request can be planned in (step 1 of the algorithm): what `make_plan` refuses below
    and what `doctor` compares the engine's memory with, one computation for both."""
    services = closure(list(req.services))
    sz = _sizes(req, services, {n: req.settings.get(n) or ServiceSettings() for n in services})
    return sum(sz.floor[n] * sz.min_r[n] for n in services)


def make_plan(req: PlanRequest) -> Plan:
    """The algorithm in the module's docstring, one step a function."""
    services = closure(list(req.services))
    unknown = [n for n in req.services if n not in CATALOG]
    if unknown:
        raise UsageError(f"unknown service {unknown[0]!r}.", f"use some of: {', '.join(CATALOG)}.")
    budget, source = choose_budget(req)
    if budget <= 0:
        raise BudgetTooSmall(f"the budget from {source} is {fmt_mib(budget)}.", "give --budget, e.g. --budget 12g.")
    settings = {n: req.settings.get(n) or ServiceSettings() for n in services}
    sz = _sizes(req, services, settings)  # floors_mib's sizes too
    need = _floors_fit(req.profile, services, sz, budget, source)  # step 1
    replicas, remaining, reasons = _replicas(services, sz, budget - need)  # step 2
    per_replica = _fill(services, sz, replicas, remaining)  # steps 3 and 4
    ports = _resolve_ports(services, settings, replicas)
    planned: list[ServicePlan] = []
    for n in services:
        sp, why = _service_plan(n, services, sz, replicas[n], per_replica[n], settings[n], ports[n], req.image_env)
        planned.append(sp)
        reasons += why
    total = sum(s.limit_mib for s in planned)
    return Plan(
        profile=req.profile,
        budget_mib=budget,
        budget_source=source,
        total_mib=total,
        unallocated_mib=budget - total,
        bind=req.bind,
        services=tuple(planned),
        groups=_groups(planned, budget),
        reasons=tuple(reasons),
        notes=tuple(_notes(req, budget, total, planned)),
        engine_mib=req.engine_mib,
        host_mib=req.host_mib,
        arch=req.arch,
        addons={p.name: dict(d) for p in planned if (d := SERVICES[p.name].declaration) is not None},
        alerts={name: dict(s) for name, s in req.alerts.items()},
    )


def _floors_fit(profile: str, services: list[str], sz: _Sizes, budget: int, source: str) -> int:
    """Step 1: the floors at the fewest replicas, or BudgetTooSmall with what would make them fit."""
    floors_min = {n: sz.floor[n] * sz.min_r[n] for n in services}
    need = sum(floors_min.values())
    if need > budget:
        drop = _drop_suggestion(services, floors_min, budget)
        fix = f"give --budget {_round_up_half_gib(need)} or more"
        if drop:
            keep = [n for n in services if n not in drop]
            fix += f", or drop {', '.join(drop)} (--services {','.join(keep)})"
        raise BudgetTooSmall(
            f"the {profile} profile needs at least {fmt_mib(need)} (the floors of "
            f"{', '.join(services)}), but the budget ({source}) is {fmt_mib(budget)}.",
            fix + ".",
        )
    return need


def _replicas(services: list[str], sz: _Sizes, remaining: int) -> tuple[dict[str, int], int, list[str]]:
    """Step 2: the seed's replica counts while the budget holds their floors; at the first that does not fit,
    the fewest for it and every later one, and nothing left to fill (returns replicas, what is left, reasons)."""
    replicas = dict(sz.min_r)
    reasons: list[str] = []
    stopped = False
    for n in services:
        if sz.want_r[n] > sz.min_r[n]:
            step = (sz.want_r[n] - sz.min_r[n]) * sz.floor[n]
            if not stopped and remaining >= step:
                replicas[n] = sz.want_r[n]
                remaining -= step
            else:
                stopped = True
                reasons.append(
                    f"{CATALOG[n].title} runs {sz.min_r[n]} broker{'s' if sz.min_r[n] > 1 else ''} instead of "
                    f"{sz.want_r[n]}: {sz.want_r[n]} brokers need {fmt_mib(step)} more than the budget leaves."
                )
    return replicas, 0 if stopped else remaining, reasons


def _fill(services: list[str], sz: _Sizes, replicas: dict[str, int], remaining: int) -> dict[str, int]:
    """Steps 3 and 4: weighted water-filling toward the targets, per replica, on one common level `lam` found by
    bisection; never above a target. Returns the memory per replica, in steps of STEP_MIB."""
    deficit = {n: sz.target[n] - sz.floor[n] for n in services}
    weight = {n: PRIORITY_WEIGHT[CATALOG[n].priority] for n in services}

    def grown(lam: float) -> dict[str, float]:
        return {n: deficit[n] * min(1.0, lam * weight[n]) for n in services}

    def cost(lam: float) -> float:
        g = grown(lam)
        return sum(g[n] * replicas[n] for n in services)

    hi = 1.0 / min(weight.values())
    if cost(hi) <= remaining:
        lam = hi
    else:
        lo = 0.0
        for _ in range(60):
            mid = (lo + hi) / 2
            if cost(mid) <= remaining:
                lo = mid
            else:
                hi = mid
        lam = lo
    extra = grown(lam)
    per_replica = {n: sz.floor[n] + int(extra[n] // STEP_MIB) * STEP_MIB for n in services}
    for n in services:  # a target that is not a multiple of the step is still reachable
        if sz.floor[n] + extra[n] >= sz.target[n] - 1e-9:
            per_replica[n] = sz.target[n]
    return per_replica


def _service_plan(
    n: str,
    services: list[str],
    sz: _Sizes,
    replicas: int,
    per_replica: int,
    settings: ServiceSettings,
    ports: dict[str, list[int]],
    image_env: Mapping[str, str],
) -> tuple[ServicePlan, list[str]]:
    """One service's limit made into its containers and knobs (knobs.py), and what the budget cost it."""
    spec = CATALOG[n]
    total = per_replica * replicas
    exporters = {e.container: e.memory_mib for e in exporters_for(n, services)}
    sized = with_exporters(SIZERS[n](total - sum(exporters.values()), replicas), exporters)
    sp = ServicePlan(
        name=n,
        title=spec.title,
        group=spec.group.value,
        runtime=spec.runtime.value,
        priority=spec.priority,
        replicas=replicas,
        limit_mib=total,
        floor_mib=sz.floor[n] * replicas,
        target_mib=sz.target[n] * replicas,
        ceiling_mib=sz.ceiling[n] * replicas,
        pinned=settings.memory is not None,
        containers=sized.containers,
        knobs=sized.knobs,
        ports=ports,
        images=_resolve_images(n, settings, image_env, services),
    )
    reasons = []
    if per_replica < sz.target[n]:
        unit = " per broker" if spec.max_replicas > 1 else ""
        reasons.append(f"{spec.title} {fmt_mib(per_replica)}{unit} instead of {fmt_mib(sz.target[n])}.")
    if (seed_knob := SERVICES[n].seed_knob) is not None:
        knob, seed, label = seed_knob
        got = int(sized.knobs[knob].rstrip("m"))
        if got < seed:
            reasons.append(f"{label} {fmt_mib(got)} instead of the seed's {fmt_mib(seed)}.")
    return sp, reasons


def _groups(planned: list[ServicePlan], budget: int) -> dict[str, dict[str, int]]:
    """Each of the seed's groups: what the plan gives it, beside the seed's share scaled to this budget."""
    groups: dict[str, dict[str, int]] = {}
    for g in Group:
        members = [s for s in planned if s.group == g.value]
        if members:
            groups[g.value] = {
                "planned": sum(s.limit_mib for s in members),
                "seed_share": SEED_GROUP_SHARE_MIB[g] * budget // SEED_PEAK_MIB,
            }
    return groups


def _notes(req: PlanRequest, budget: int, total: int, planned: list[ServicePlan]) -> list[str]:
    notes: list[str] = []
    if req.engine_mib and engine_room(req) is not None:  # only with --force (plan, up) or in a preview (TUI)
        notes.append(
            f"the budget ({fmt_mib(budget)}) is more than the Docker engine can give "
            f"({fmt_mib(req.engine_mib)} less {fmt_mib(engine_reserve(req.engine_mib))} reserve): "
            "containers may be OOM-killed. `devstack doctor` says how to give the engine more."
        )
    if budget > SEED_PEAK_MIB:
        notes.append(f"the budget is above the seed's {fmt_mib(SEED_PEAK_MIB)} peak for a 32 GB Mac Studio.")
    if total < budget:
        notes.append(f"{fmt_mib(budget - total)} of the budget is left unallocated.")
    if req.bind not in ("127.0.0.1", "::1") and TLS in {sp.name for sp in planned}:
        notes.append(
            f"the TLS proxy's ports are published on {req.bind}, not only on this machine: anyone who can reach it "
            "can connect, over TLS only (the plain ports stay on 127.0.0.1)."
        )
    elif req.bind not in ("127.0.0.1", "::1"):
        notes.append(
            f"ports are published on {req.bind}, not only on this machine: anyone who can reach it can connect."
        )
    if req.arch in ("arm64", "aarch64"):
        for sp in planned:
            for key, image in CATALOG[sp.name].images.items():
                if "linux/arm64" not in image.platforms and not image.devstack_build and sp.images[key] == image.ref:
                    notes.append(
                        f"{sp.images[key]} publishes no arm64 image: it runs under emulation (slower, more memory)."
                    )
    if any(CATALOG[sp.name].runtime is Runtime.K3D for sp in planned):
        notes.append("seldon runs on a k3d cluster, brought up beside the Compose services.")
    return notes


def plan_from_dict(d: dict[str, Any]) -> Plan:
    """A plan back from plan.json (the stack dir's record of what it was rendered from)."""
    data = dict(d)
    # its add-ons first (those this process has not read from devstack.yaml): the rest looks services up by name
    addons = data.get("addons") or {}
    register_addons((addon_service(n, AddonDecl.from_dict(a)) for n, a in addons.items()), override=False)
    data["services"] = tuple(ServicePlan(**s) for s in data["services"])
    data["reasons"] = tuple(data["reasons"])
    data["notes"] = tuple(data["notes"])
    return Plan(**data)
