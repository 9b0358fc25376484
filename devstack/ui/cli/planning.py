"""Commands that plan and need no running stack: plan, doctor, render, profiles."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from devstack.ui.cli.common import (
    EXIT_ENV,
    EXIT_OK,
    host,
    notebooks_dir,
    plan_for,
    planned_ports,
)

if TYPE_CHECKING:
    from rich.console import Console


def cmd_plan(args: argparse.Namespace, out: Console) -> int:
    if args.from_peaks:
        return _plan_from_peaks(args, out)
    _, plan, _ = plan_for(args, over_engine_ok=args.force)
    if args.json:
        print(json.dumps(plan.to_dict(), indent=2))
    else:
        from devstack.ui.output import print_plan

        print_plan(out, plan)
    return EXIT_OK


def _plan_from_peaks(args: argparse.Namespace, out: Console) -> int:
    from dataclasses import replace

    from devstack.core.errors import UsageError
    from devstack.lifecycle.stack import _describe_changes, load_plan
    from devstack.monitor.sampler import load_peaks
    from devstack.planning.config import plan_request, select
    from devstack.planning.peaks import plan_with_peaks
    from devstack.render.state import stack_dir

    sel = select(profile=args.profile, services=args.services, budget=args.budget, config=args.config, stack=args.stack)
    directory = stack_dir(sel.stack)
    peaks = load_peaks(directory)
    current = load_plan(directory)
    if current is None or not peaks:
        raise UsageError(
            f"no peaks recorded for stack {sel.stack!r} yet.",
            "run the stack (devstack up) and watch it with devstack dashboard, top or stats while you work.",
        )
    facts = host()
    engine = facts.engine.mem_mib if facts.engine.reachable else None
    if args.budget is None and sel.budget_mib is None:  # the budget the stack runs with, not a new default
        sel = replace(sel, budget_mib=current.budget_mib, budget_source="the running stack's plan")
    req = plan_request(sel, engine_mib=engine, host_mib=facts.host_mib, arch=facts.arch)
    plan, learned = plan_with_peaks(req, peaks)
    changes = _describe_changes(current, plan)
    if args.json:
        d = plan.to_dict()
        d["learned"] = [{**x.__dict__, "ratio": round(x.ratio, 3), "reason": x.describe()} for x in learned]
        d["changes"] = changes
        print(json.dumps(d, indent=2))
        return EXIT_OK
    from devstack.ui.output import print_plan

    out.print(f"[bold]Learned from the peaks recorded in {directory / 'peaks.json'}:[/]", highlight=False)
    for x in learned:
        out.print(f"  {x.describe()}", highlight=False)
    if not learned:
        out.print("  every service peaked between 30 % and 90 % of its limit: nothing to move.")
    out.print("[bold]Changes against the running plan:[/] " + ("; ".join(changes) if changes else "none"))
    print_plan(out, plan)
    out.print("Apply it with `devstack up --from-peaks` (same flags).")
    return EXIT_OK


def cmd_doctor(args: argparse.Namespace, out: Console) -> int:
    from devstack.core.errors import BudgetTooSmall
    from devstack.lifecycle.doctor import Level, diagnose, worst
    from devstack.planning.catalog import closure
    from devstack.planning.config import plan_request, select
    from devstack.planning.plan import floors_mib, make_plan

    sel = select(profile=args.profile, services=args.services, budget=args.budget, config=args.config, stack=args.stack)
    facts = host(tools=True)
    engine = facts.engine.mem_mib if facts.engine.reachable else None
    req = plan_request(sel, engine_mib=engine, host_mib=facts.host_mib, arch=facts.arch)
    names = closure(list(sel.services))
    floors = floors_mib(req)
    budget = None
    ports: dict[int, str] = {}
    try:
        plan = make_plan(req)
        budget = plan.budget_mib
        ports = planned_ports(plan)
    except BudgetTooSmall:
        plan = None
    if ports:
        from devstack.runtime.host import port_owners

        facts = type(facts)(**{**facts.__dict__, "busy_ports": tuple(port_owners(list(ports), sel.override.bind))})
    findings = diagnose(
        facts, profile=sel.profile.name, floors_mib=floors, budget_mib=budget, ports=ports, needs_k3d="seldon" in names
    )
    if args.json:
        print(json.dumps({"level": worst(findings).value, "findings": [f.to_dict() for f in findings]}, indent=2))
    else:
        from devstack.ui.output import print_findings

        print_findings(out, findings)
    return EXIT_ENV if worst(findings) is Level.ERROR else EXIT_OK


def cmd_render(args: argparse.Namespace, out: Console) -> int:
    from pathlib import Path

    from devstack.render.project import render
    from devstack.render.state import NewDirs, project_name, stack_dir

    sel, plan, facts = plan_for(args)
    directory = Path(args.out).expanduser().resolve() if args.out else stack_dir(sel.stack)
    # for the engine here when one answers; without one, files every engine takes
    try:
        with NewDirs(directory):  # a render that fails half-way leaves no directory it made
            rendered = render(
                plan,
                directory,
                project_name(sel.stack),
                notebooks=notebooks_dir(),
                start_interval=facts.engine.start_interval,
            )
    except OSError as e:  # /proc/nope, a read-only mount, a file where the directory should be
        from devstack.core.errors import UsageError

        raise UsageError(
            f"cannot write the stack to {directory}: {e.strerror or e}.",
            "give --out a directory you can write to (it is created if missing).",
        ) from None
    if args.json:
        print(
            json.dumps(
                {
                    "directory": str(rendered.directory),
                    "project": rendered.project,
                    "files": [str(f.relative_to(rendered.directory)) for f in rendered.files],
                },
                indent=2,
            )
        )
    else:
        out.print(
            f"Rendered the {plan.profile} profile ({len(plan.services)} services, "
            f"{plan.total_mib} MiB of {plan.budget_mib} MiB) into {rendered.directory}"
        )
        out.print(f"Run it without devstack: cd {rendered.directory} && docker compose up -d")
    return EXIT_OK


def cmd_profiles(args: argparse.Namespace, out: Console) -> int:
    from devstack.planning.profiles import load_profile, profile_names

    rows = []
    for name in profile_names():
        p = load_profile(name)
        rows.append({"name": name, "description": p.profile.description, "services": list(p.profile.services)})
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for r in rows:
            out.print(f"[bold]{r['name']}[/]: {r['description']}\n  {', '.join(r['services'])}")
    return EXIT_OK
