"""Rich rendering of plans and doctor findings for the terminal. The core never imports this."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Console, RenderableType
from rich.measure import Measurement
from rich.table import Table

from devstack.core.units import fmt_mib
from devstack.lifecycle.doctor import Finding, Level
from devstack.planning.plan import Plan
from devstack.services.base import TLS

if TYPE_CHECKING:
    from devstack.lifecycle.stack import ServiceStatus
    from devstack.monitor.sampler import History, Snapshot

_LEVEL_STYLE = {Level.OK: "[green]ok[/]", Level.WARNING: "[yellow]warning[/]", Level.ERROR: "[red]error[/]"}


def _knob_value(v: str) -> str:
    """A byte count as the service takes it, with its size beside it (ClickHouse's settings are plain bytes)."""
    return f"{v} ({fmt_mib(int(v) >> 20)})" if v.isdigit() and int(v) >= 1 << 20 else v


def _knobs(knobs: dict[str, str]) -> list[str]:
    return [f"{k}={_knob_value(v)}" for k, v in knobs.items() if k not in ("kafka.brokers",)]


def _fits(console: Console, table: Table) -> bool:
    return Measurement.get(console, console.options.update_width(1 << 16), table).maximum <= console.width


def print_plan(console: Console, plan: Plan) -> None:
    """One table where the terminal is wide enough for it; else the sizes as a table and each service's
    containers and knobs as lines under its name, so nothing is cut off at 80 columns."""
    title = f"Plan: profile {plan.profile}, budget {fmt_mib(plan.budget_mib)} ({plan.budget_source})"
    rows = []
    for s in plan.services:
        name = s.name + (f" x{s.replicas}" if s.replicas > 1 else "")
        limit = fmt_mib(s.limit_mib) + (" (pinned)" if s.pinned else "")
        if s.limit_mib < s.target_mib:
            limit = f"[yellow]{limit}[/]"
        containers = [f"{c} {fmt_mib(m)}" for c, m in s.containers.items()]
        rows.append((name, s.group, limit, fmt_mib(s.target_mib), containers, _knobs(s.knobs)))
    t = Table(title=title)
    for column, justify in (("service", "left"), ("group", "left"), ("limit", "right"), ("target", "right")):
        t.add_column(column, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    t.add_column("containers", no_wrap=True)
    t.add_column("knobs", no_wrap=True)
    for name, group, limit, target, containers, knobs in rows:
        t.add_row(name, group, limit, target, "\n".join(containers), "\n".join(knobs))
    if not _fits(console, t):
        t = Table(title=title)
        for column, justify in (("service", "left"), ("group", "left"), ("limit", "right"), ("target", "right")):
            t.add_column(column, justify=justify, no_wrap=True)  # type: ignore[arg-type]
        for name, group, limit, target, _, _ in rows:
            t.add_row(name, group, limit, target)
        console.print(t)
        t = Table(title="Containers and knobs", show_header=False, box=None, padding=(0, 1))
        t.add_column(no_wrap=True)
        t.add_column(overflow="fold")  # a knob wider than the terminal folds, never loses its end
        for name, _, _, _, containers, knobs in rows:
            t.add_row(f"[bold]{name}[/]", ", ".join(containers))
            for k in knobs:
                t.add_row("", k)
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
    from devstack.planning.endpoints import endpoints

    t = Table(title=f"Stack {stack!r}: endpoints (on this machine only: {plan.plain_bind})")
    t.add_column("service", no_wrap=True)
    t.add_column("url", overflow="fold")  # whole, to be copied: folded only if wider than the terminal
    t.add_column("user", no_wrap=True)
    for e in endpoints(plan):
        if e.service == "seldon":
            continue
        t.add_row(e.service, e.url, e.user or ("token" if e.secret_key else ""))
        for k, v in e.extra.items():  # a row each (Spark's UI, MinIO's console): a URL under a URL
            t.add_row(f"  {k}", v, "")
    console.print(t)
    if TLS in plan.names():
        _print_tls_twins(console, plan)


def _print_tls_twins(console: Console, plan: Plan) -> None:
    """The TLS proxy's twins of the endpoints above, on the bind address (the plain ones are then 127.0.0.1's)."""
    from devstack.planning.endpoints import endpoints

    plain = {e.service: e for e in endpoints(plan)}
    t = Table(title=f"TLS (the TLS proxy, on {plan.bind}): `devstack env` gives clients these and the stack's CA")
    t.add_column("service", no_wrap=True)
    t.add_column("url", overflow="fold")
    for e in endpoints(plan, via_tls=True):
        shown = e.url != plain[e.service].url
        if shown:
            t.add_row(e.service, e.url)
        for k, v in e.extra.items():
            if v != plain[e.service].extra.get(k):  # Spark's UI has a twin where its master's RPC has none
                t.add_row(f"  {k}" if shown else f"{e.service} {k}", v)
    console.print(t)


def print_status(console: Console, stack: str, plan: Plan, services: list[ServiceStatus]) -> None:
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
    for s in services:
        if getattr(s, "targets", None):
            print_targets(console, s.targets)
        if getattr(s, "alerts", None):
            print_alerts(console, s.alerts)


_ALERT_STYLE = {"firing": "[red]firing[/]", "pending": "[yellow]pending[/]"}


def print_alerts(console: Console, alerts: list[dict[str, Any]]) -> None:
    """The alerts section of `devstack status`: what Prometheus's rules hold active, firing first."""
    t = Table(title="Alerts: Prometheus rules (pending until their `for`, then firing)")
    t.add_column("alert", no_wrap=True)
    t.add_column("state", no_wrap=True)
    t.add_column("service", no_wrap=True)
    t.add_column("summary", overflow="fold")
    t.add_column("since", no_wrap=True)
    for a in alerts:
        state = str(a.get("state", ""))
        since = str(a.get("since", ""))[:19].replace("T", " ")
        t.add_row(
            str(a["name"]), _ALERT_STYLE.get(state, state), str(a.get("service", "")), str(a.get("summary", "")), since
        )
    console.print(t)


_TARGET_STYLE = {
    "up": "[green]up[/]",
    "down": "[red]down[/]",
    "unknown": "[yellow]unknown[/]",
    "missing": "[red]missing[/]",
}


def print_targets(console: Console, jobs: list[dict[str, Any]]) -> None:
    """The monitoring section of `devstack status`: each Prometheus scrape job, up or not, and why not."""
    t = Table(title="Monitoring: Prometheus scrape targets")
    t.add_column("job")
    t.add_column("health")
    t.add_column("targets up", justify="right")
    t.add_column("last error", overflow="fold")
    for j in jobs:
        health = str(j.get("health", "unknown"))
        t.add_row(
            str(j["job"]),
            _TARGET_STYLE.get(health, health),
            f"{j.get('up', 0)}/{j.get('total', 0)}",
            str(j.get("last_error") or ""),
        )
    console.print(t)


def fitted_snapshot(console: Console, snap: Snapshot, plan: Plan | None, history: History) -> RenderableType:
    """`devstack top`'s table at the terminal's height: a live view cut at the bottom hides whole services (an 80x24
    Terminal.app window loses the last ones of the full profile), so containers fold into their service rows first,
    and a line says how to see them."""
    full = snapshot_table(snap, plan, history)
    if len(console.render_lines(full, console.options.reset_height(), pad=False)) <= console.size.height:
        return full
    return snapshot_table(snap, plan, history, fold=True)


def snapshot_table(snap: Snapshot, plan: Plan | None, history: History, *, fold: bool = False) -> RenderableType:
    """`devstack top`'s table: one row per service, its containers indented under it when there are several, unless
    `fold`."""
    from rich.console import Group
    from rich.text import Text

    from devstack.monitor.sampler import elsewhere
    from devstack.ui.tui.fmt import bar, mib, uptime

    if snap.engine_error:
        return Text(f"{snap.engine_error}: retrying every few seconds (Ctrl-C quits).", style="bold red")
    from rich import box

    services = snap.services(plan.names() if plan else [], elsewhere(plan))
    t = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1))
    # a service's whole name, whatever else the width squeezes: it is what the row is about
    t.add_column("service", no_wrap=True, min_width=max([10, *map(len, services)]))
    for col, just in (("state", "left"), ("health", "left"), ("up", "right")):
        t.add_column(col, justify=just, no_wrap=True)  # type: ignore[arg-type]
    t.add_column("memory", no_wrap=True, min_width=10)
    for col in ("used/limit", "peak", "cpu", "restarts"):
        t.add_column(col, justify="right", no_wrap=True)
    style = {"healthy": "green", "starting": "yellow", "unhealthy": "red", "down": "red"}
    folded = 0
    for name, s in services.items():
        peak = history.peaks.get(name)
        t.add_row(
            name,
            s.state,
            Text(s.health, style=style.get(s.health, "")),
            uptime(s.started_at, snap.at),
            bar(s.used, s.limit, 10),
            f"{mib(s.used)}/{mib(s.limit)}" if s.limit else "-",
            f"{peak.used_mib}M" if peak else "-",
            f"{s.cpu_pct:.0f}%",
            f"{s.restarts}" + (" OOM" if s.oom_killed else ""),
        )
        if len(s.containers) > 1 and fold:
            folded += len(s.containers)
        elif len(s.containers) > 1:
            for c in s.containers:
                t.add_row(
                    f"  {c.name}",
                    c.state,
                    Text(c.health or "-", style=style.get(c.health or "", "dim")),
                    "",
                    bar(c.used, c.limit, 10),
                    f"{mib(c.used)}/{mib(c.limit)}" if c.limit else "-",
                    "",
                    f"{c.cpu_pct or 0:.0f}%",
                    f"{c.restarts}" + (" OOM" if c.oom_killed else ""),
                    style="dim",
                )
    budget = f" of a {plan.budget_mib} MiB budget" if plan else ""
    head = Text(
        f"host {mib(snap.host_used)}/{mib(snap.host_total)}  engine {mib(snap.engine_total)}  "
        f"stack {mib(snap.used)}{budget}, peak {mib(history.total_peak)}  (tick {snap.latency * 1000:.0f} ms)"
    )
    if not folded:
        return Group(head, t)
    return Group(head, t, Text(f"{folded} container rows folded into their services: a taller terminal shows them"))
