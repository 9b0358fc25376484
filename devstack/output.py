"""Rich rendering of plans and doctor findings for the terminal. The core never imports this."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from devstack.doctor import Finding, Level
from devstack.plan import Plan
from devstack.units import fmt_mib

_LEVEL_STYLE = {Level.OK: "[green]ok[/]", Level.WARNING: "[yellow]warning[/]", Level.ERROR: "[red]error[/]"}


def _knobs(knobs: dict[str, str]) -> str:
    shown = {k: v for k, v in knobs.items() if k not in ("kafka.brokers",)}
    return "\n".join(f"{k}={v}" for k, v in shown.items())


def print_plan(console: Console, plan: Plan) -> None:
    t = Table(title=f"Plan: profile {plan.profile}, budget {fmt_mib(plan.budget_mib)} ({plan.budget_source})")
    t.add_column("service")
    t.add_column("group")
    t.add_column("limit", justify="right")
    t.add_column("target", justify="right")
    t.add_column("containers")
    t.add_column("knobs")
    for s in plan.services:
        name = s.name + (f" x{s.replicas}" if s.replicas > 1 else "")
        limit = fmt_mib(s.limit_mib) + (" (pinned)" if s.pinned else "")
        style = "" if s.limit_mib >= s.target_mib else "yellow"
        containers = "\n".join(f"{c} {fmt_mib(m)}" for c, m in s.containers.items())
        t.add_row(
            name,
            s.group,
            f"[{style}]{limit}[/]" if style else limit,
            fmt_mib(s.target_mib),
            containers,
            _knobs(s.knobs),
        )
    console.print(t)
    g = Table(title="Groups (the seed's split of its 28 GB peak, scaled to this budget)")
    g.add_column("group")
    g.add_column("planned", justify="right")
    g.add_column("seed share", justify="right")
    for name, v in plan.groups.items():
        g.add_row(name, fmt_mib(v["planned"]), fmt_mib(v["seed_share"]))
    g.add_row("[bold]total[/]", f"[bold]{fmt_mib(plan.total_mib)}[/]", f"budget {fmt_mib(plan.budget_mib)}")
    console.print(g)
    facts = []
    if plan.host_mib:
        facts.append(f"host RAM {fmt_mib(plan.host_mib)}")
    if plan.engine_mib:
        facts.append(f"Docker engine {fmt_mib(plan.engine_mib)}")
    if plan.arch:
        facts.append(plan.arch)
    if facts:
        console.print("Sized for: " + ", ".join(facts))
    if plan.reasons:
        console.print("[bold]What the budget cost:[/]")
        for r in plan.reasons:
            console.print(f"  - {r}")
    for n in plan.notes:
        console.print(f"[dim]note: {n}[/]")


def print_findings(console: Console, findings: list[Finding]) -> None:
    t = Table(title="devstack doctor")
    t.add_column("check")
    t.add_column("result")
    t.add_column("detail")
    t.add_column("fix")
    for f in findings:
        t.add_row(f.check, _LEVEL_STYLE[f.level], f.detail, f.fix)
    console.print(t)


def print_endpoints(console: Console, plan: Plan, stack: str) -> None:
    from devstack.endpoints import endpoints

    t = Table(title=f"Stack {stack!r}: endpoints (on this machine only: {plan.bind})")
    t.add_column("service")
    t.add_column("url")
    t.add_column("user")
    t.add_column("more")
    for e in endpoints(plan):
        if e.service == "seldon":
            continue
        t.add_row(
            e.service,
            e.url,
            e.user or ("token" if e.secret_key else ""),
            " ".join(f"{k} {v}" for k, v in e.extra.items()),
        )
    console.print(t)


def print_status(console: Console, stack: str, plan: Plan, services: list[Any]) -> None:
    t = Table(title=f"Stack {stack!r} (profile {plan.profile}, budget {fmt_mib(plan.budget_mib)})")
    t.add_column("service")
    t.add_column("state")
    t.add_column("health")
    t.add_column("memory used / limit", justify="right")
    t.add_column("ports")
    t.add_column("detail", overflow="fold")
    for s in services:
        health = "[green]healthy[/]" if s.healthy else ("[dim]-[/]" if s.runtime != "compose" else "[red]unhealthy[/]")
        ports = " ".join(str(p) for ps in s.ports.values() for p in ps)
        t.add_row(s.name, s.state, health, f"{fmt_mib(s.used_mib)} / {fmt_mib(s.limit_mib)}", ports, s.detail)
    console.print(t)
