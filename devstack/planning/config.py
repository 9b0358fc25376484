"""Gather what the planner needs from the command line, the profile, the override file, the environment and
the host, into one `PlanRequest`. The CLI and the TUI share this, so both plan the same stack."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from devstack.core.errors import UsageError
from devstack.core.units import parse_size
from devstack.planning.catalog import CATALOG
from devstack.planning.plan import PlanRequest
from devstack.planning.profiles import LoadedProfile, load_override, load_profile
from devstack.planning.settings import OverrideSettings, ServiceSettings
from devstack.services.base import TLS

DEFAULT_PROFILE = "full"


@dataclass(frozen=True)
class Selection:
    """What the user asked for, before any host fact is read."""

    profile: LoadedProfile
    override_path: Path | None
    override: OverrideSettings
    services: tuple[str, ...]
    settings: dict[str, ServiceSettings]
    budget_mib: int | None
    budget_source: str
    stack: str


def parse_services(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if not names:
        raise UsageError("--services is empty.", f"name some of: {', '.join(CATALOG)}.")
    for n in names:
        if n not in CATALOG:
            raise UsageError(f"unknown service {n!r} in --services.", f"use some of: {', '.join(CATALOG)}.")
    return names


def select(
    *,
    profile: str | None,
    services: str | None,
    budget: str | None,
    config: str | None,
    stack: str | None,
    cwd: Path | None = None,
) -> Selection:
    override_path, override = load_override(config, cwd or Path.cwd())
    loaded = load_profile(profile or override.profile or DEFAULT_PROFILE)
    # the add-ons devstack.yaml declares run with the profile's services, unless --services says which to run
    chosen = parse_services(services) if services is not None else (*loaded.profile.services, *override.addons)
    if override.tls and TLS not in chosen:  # a stack-wide switch: with --services too
        chosen = (*chosen, TLS)
    settings = {
        n: (loaded.profile.services.get(n) or ServiceSettings()).under(override.services.get(n))
        for n in set(chosen) | set(loaded.profile.services) | set(override.services)
    }
    if budget is not None:
        budget_mib, source = parse_size(budget, "--budget"), "--budget"
    elif override.budget is not None:
        budget_mib, source = override.budget, str(override_path)
    elif loaded.profile.budget is not None:
        budget_mib, source = loaded.profile.budget, f"profile {loaded.name}"
    else:
        budget_mib, source = None, ""
    return Selection(
        profile=loaded,
        override_path=override_path,
        override=override,
        services=chosen,
        settings=settings,
        budget_mib=budget_mib,
        budget_source=source,
        stack=stack or override.stack or "default",
    )


def image_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    env = os.environ if environ is None else environ
    return {k: v for k, v in env.items() if k.startswith("DEVSTACK_IMAGE_") and v}


def plan_request(sel: Selection, *, engine_mib: int | None, host_mib: int | None, arch: str) -> PlanRequest:
    return PlanRequest(
        profile=sel.profile.name,
        services=sel.services,
        settings=sel.settings,
        budget_mib=sel.budget_mib,
        budget_source=sel.budget_source,
        engine_mib=engine_mib,
        host_mib=host_mib,
        bind=sel.override.bind,
        image_env=image_env(),
        arch=arch,
        alerts={name: dict(a) for name, a in sel.override.alerts.items()},
    )
