"""The command line: parse, call the core, print. Imports stay lazy so `--help` and `--version` answer at once
(no Docker, Textual or pydantic import on their path)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any, NoReturn

from devstack import __version__

if TYPE_CHECKING:
    from pathlib import Path

EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_ENV = 0, 1, 2, 3


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors as devstack's other bad input: one line with the cause and the fix, exit 2 (not
    the usage text first, which pushes the cause out of a narrow terminal)."""

    def error(self, message: str) -> NoReturn:
        if "Fix:" not in message:
            message = f"{message.rstrip('.')}. Fix: see `{self.prog} --help`."
        self.exit(EXIT_USAGE, f"{self.prog}: {message}\n")


def _stack(value: str) -> str:
    """--stack, checked while the arguments are parsed: before Docker is asked anything or a directory is made."""
    from devstack.errors import UsageError
    from devstack.state import check_stack_name

    try:
        return check_stack_name(value)
    except UsageError as e:
        raise argparse.ArgumentTypeError(e.one_line()) from None


def _common(p: argparse.ArgumentParser, *, budget: bool = True) -> None:
    p.add_argument("--profile", "-p", help="profile name (full, streaming, ml, minimal) or a profile YAML path")
    p.add_argument("--services", "-s", help="comma-separated services instead of the profile's (deps are added)")
    if budget:
        p.add_argument(
            "--budget",
            "-b",
            help="memory budget, e.g. 20g (default: the smallest of 28g, the engine's "
            "memory and host RAM, less reserves)",
        )
    p.add_argument("--config", "-c", help="override file (default: ./devstack.yaml if present)")
    p.add_argument("--stack", type=_stack, help="stack name (default: default), for several stacks side by side")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="devstack",
        description="A local data/ML platform (Kafka, Spark, ClickHouse, MLflow, MinIO, Redis, Airflow, JupyterLab, "
        "Prometheus, Seldon on k3d) sized to a memory budget.",
    )
    parser.add_argument("--version", action="version", version=f"devstack {__version__}")
    parser.add_argument("--verbose", "-v", action="store_true", help="print the commands devstack runs, and tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("plan", help="show how the budget is shared between the services")
    _common(p)
    p.add_argument("--json", action="store_true", help="print the plan as JSON")
    p.add_argument(
        "--force", action="store_true", help="plan a budget above what the Docker engine can give (may be OOM-killed)"
    )
    p.add_argument(
        "--from-peaks",
        action="store_true",
        help="reshare the budget by the peaks devstack saw while the stack ran (dashboard, top, stats)",
    )

    p = sub.add_parser("doctor", help="check this machine and its Docker engine for the plan")
    _common(p)
    p.add_argument("--json", action="store_true", help="print the findings as JSON")

    p = sub.add_parser("render", help="write the stack (Compose files, .env, configs) for plain `docker compose`")
    _common(p)
    p.add_argument("--out", "-o", help="directory to write (default: the stack's state dir)")
    p.add_argument("--json", action="store_true", help="print what was written as JSON")

    p = sub.add_parser("profiles", help="list the shipped profiles")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("up", help="plan, render, start and wait until every service answers in its own protocol")
    _common(p)
    p.add_argument(
        "--from-peaks", action="store_true", help="plan with what the recorded peaks taught (plan --from-peaks)"
    )
    p.add_argument(
        "--no-bootstrap", action="store_true", help="skip creating the pipeline's topics, buckets and tables"
    )
    p.add_argument(
        "--force", action="store_true", help="start with a budget above what the engine can give (may be OOM-killed)"
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")

    p = sub.add_parser(
        "bootstrap", help="create what the pipeline expects (topics, buckets, tables, experiment); safe to re-run"
    )
    p.add_argument("--stack", default="default", type=_stack)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser(
        "demo", help="run the reference pipeline: ticks -> Kafka -> Spark -> ClickHouse -> Airflow/MLflow -> MLServer"
    )
    p.add_argument("--stack", default="default", type=_stack)
    p.add_argument("--ticks", type=int, default=4000, help="synthetic ticks to produce (default: 4000)")
    p.add_argument("--no-train", action="store_true", help="serve the newest registered model instead of training")
    p.add_argument("--stop", action="store_true", help="stop the demo's streaming job and model server")
    p.add_argument("--json", action="store_true", help="print the counts at each stage as JSON")
    p.add_argument(
        "--build-arg",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="for devstack's MLServer image when the demo builds it (PIP_INDEX_URL=..., BASE=...)",
    )

    p = sub.add_parser("status", help="state, health, ports and memory of each service, asked of the engine")
    p.add_argument("--stack", default="default", type=_stack)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("down", help="stop and remove the containers (data volumes are kept)")
    p.add_argument("--stack", default="default", type=_stack)
    p.add_argument("--volumes", action="store_true", help="also delete the data volumes (asks first)")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask before deleting volumes")

    p = sub.add_parser("logs", help="a service's logs (the last run's too, after down)")
    p.add_argument("service", help="a service (kafka) or one of its containers (kafka-2)")
    p.add_argument("--stack", default="default", type=_stack)
    p.add_argument("--follow", "-f", action="store_true")
    p.add_argument("--tail", type=int, default=200, help="lines from the end (default 200)")

    p = sub.add_parser("restart", help="restart a service and wait until it is healthy again")
    p.add_argument("service")
    p.add_argument("--stack", default="default", type=_stack)

    p = sub.add_parser("env", help="every endpoint and credential, for notebooks and tools")
    p.add_argument("--stack", default="default", type=_stack)
    p.add_argument("--format", choices=["shell", "dotenv", "json"], default="shell")

    p = sub.add_parser("secrets", help="the stack's user names and passwords")
    p.add_argument("--stack", default="default", type=_stack)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("top", help="live memory, CPU and health of every service (Ctrl-C quits)")
    p.add_argument("--stack", default="default", type=_stack)
    p.add_argument("--interval", "-n", type=float, default=2.0, help="seconds between samples (default 2)")

    p = sub.add_parser("stats", help="memory, CPU, restarts and peaks of every service, as text or JSON lines")
    p.add_argument("--stack", default="default", type=_stack)
    p.add_argument("--json", action="store_true", help="one JSON object per sample")
    p.add_argument("--once", action="store_true", help="one sample (two engine reads a second apart, for CPU %%)")
    p.add_argument("--interval", "-n", type=float, default=2.0, help="seconds between samples (default 2)")

    p = sub.add_parser("dashboard", help="the interactive dashboard (Textual): health, memory, logs, actions")
    _common(p)
    p.add_argument("--interval", "-n", type=float, default=1.0, help="seconds between samples (default 1)")

    p = sub.add_parser("k3d", help="the Seldon k3d cluster: `devstack k3d status`, `devstack k3d images`")
    p.add_argument(
        "action",
        choices=["status", "images"],
        help="status: the tools, and whether the cluster runs and is ours; images: build and push devstack's own "
        "images for the cluster's architecture (Seldon's amd64-only parts on arm64), list the build registry",
    )
    p.add_argument("--stack", default="default", type=_stack)
    p.add_argument("--json", action="store_true")
    p.add_argument("--force", action="store_true", help="images: build every recipe, even where upstream has a build")
    p.add_argument(
        "--build-arg",
        action="append",
        default=[],
        metavar="[RECIPE:]NAME=VALUE",
        help="images: a build arg for every recipe, or for one (mlserver:BASE=python:3.11-slim)",
    )

    p = sub.add_parser("serve", help="deploy a model from MLflow's registry on Seldon (k3d), V2 REST")
    p.add_argument("model", metavar="MODEL[:VERSION]", help="a registered model; the newest version by default")
    p.add_argument("--stack", default="default", type=_stack)
    p.add_argument("--mlflow", metavar="URL", help="MLflow's URL (default: the stack's)")
    p.add_argument("--dry-run", action="store_true", help="print the manifests instead of applying them")

    p = sub.add_parser("predict", help="send a V2 inference request to a served model")
    p.add_argument("model", metavar="MODEL[:VERSION]")
    p.add_argument("--data", required=True, help="JSON: a row, a list of rows, or a whole V2 request")
    p.add_argument("--stack", default="default", type=_stack)
    p.add_argument("--url", help="a V2 server to ask instead of the stack's cluster (e.g. http://127.0.0.1:18080)")
    return parser


# ---------------------------------------------------------------- commands


def _facts(ports: list[int] | None = None, bind: str = "127.0.0.1", tools: bool = False) -> Any:
    from devstack.host import host_facts

    return host_facts(ports, bind, with_tools=tools)


def _plan(args: argparse.Namespace, facts: Any = None, *, over_engine_ok: bool = True) -> tuple[Any, Any, Any]:
    from devstack.config import plan_request, select
    from devstack.plan import make_plan, refuse_over_engine

    sel = select(
        profile=args.profile,
        services=args.services,
        budget=getattr(args, "budget", None),
        config=args.config,
        stack=args.stack,
    )
    if facts is None:
        facts = _facts()
    engine = facts.engine.mem_mib if facts.engine.reachable else None
    req = plan_request(sel, engine_mib=engine, host_mib=facts.host_mib, arch=facts.arch)
    if not over_engine_ok:
        refuse_over_engine(req)
    return sel, make_plan(req), facts


def cmd_plan(args: argparse.Namespace, out: Any) -> int:
    if args.from_peaks:
        return _plan_from_peaks(args, out)
    _, plan, _ = _plan(args, over_engine_ok=args.force)
    if args.json:
        print(json.dumps(plan.to_dict(), indent=2))
    else:
        from devstack.output import print_plan

        print_plan(out, plan)
    return EXIT_OK


def _plan_from_peaks(args: argparse.Namespace, out: Any) -> int:
    from dataclasses import replace

    from devstack.config import plan_request, select
    from devstack.errors import UsageError
    from devstack.monitor import load_peaks
    from devstack.peaks import plan_with_peaks
    from devstack.stack import _describe_changes, load_plan
    from devstack.state import stack_dir

    sel = select(profile=args.profile, services=args.services, budget=args.budget, config=args.config, stack=args.stack)
    directory = stack_dir(sel.stack)
    peaks = load_peaks(directory)
    current = load_plan(directory)
    if current is None or not peaks:
        raise UsageError(
            f"no peaks recorded for stack {sel.stack!r} yet.",
            "run the stack (devstack up) and watch it with devstack dashboard, top or stats while you work.",
        )
    facts = _facts()
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
    from devstack.output import print_plan

    out.print(f"[bold]Learned from the peaks recorded in {directory / 'peaks.json'}:[/]", highlight=False)
    for x in learned:
        out.print(f"  {x.describe()}", highlight=False)
    if not learned:
        out.print("  every service peaked between 30 % and 90 % of its limit: nothing to move.")
    out.print("[bold]Changes against the running plan:[/] " + ("; ".join(changes) if changes else "none"))
    print_plan(out, plan)
    out.print("Apply it with `devstack up --from-peaks` (same flags).")
    return EXIT_OK


def _planned_ports(plan: Any) -> dict[int, str]:
    return {h: f"{s.name}.{name}" for s in plan.services for name, hosts in s.ports.items() for h in hosts}


def cmd_doctor(args: argparse.Namespace, out: Any) -> int:
    from devstack.catalog import closure
    from devstack.config import plan_request, select
    from devstack.doctor import Level, diagnose, worst
    from devstack.errors import BudgetTooSmall
    from devstack.plan import floors_mib, make_plan

    sel = select(profile=args.profile, services=args.services, budget=args.budget, config=args.config, stack=args.stack)
    facts = _facts(tools=True)
    engine = facts.engine.mem_mib if facts.engine.reachable else None
    req = plan_request(sel, engine_mib=engine, host_mib=facts.host_mib, arch=facts.arch)
    names = closure(list(sel.services))
    floors = floors_mib(req)
    budget = None
    ports: dict[int, str] = {}
    try:
        plan = make_plan(req)
        budget = plan.budget_mib
        ports = _planned_ports(plan)
    except BudgetTooSmall:
        plan = None
    if ports:
        from devstack.host import port_owners

        facts = type(facts)(**{**facts.__dict__, "busy_ports": tuple(port_owners(list(ports), sel.override.bind))})
    findings = diagnose(
        facts, profile=sel.profile.name, floors_mib=floors, budget_mib=budget, ports=ports, needs_k3d="seldon" in names
    )
    if args.json:
        print(json.dumps({"level": worst(findings).value, "findings": [f.to_dict() for f in findings]}, indent=2))
    else:
        from devstack.output import print_findings

        print_findings(out, findings)
    return EXIT_ENV if worst(findings) is Level.ERROR else EXIT_OK


def cmd_render(args: argparse.Namespace, out: Any) -> int:
    from pathlib import Path

    from devstack.render import render
    from devstack.state import NewDirs, project_name, stack_dir

    sel, plan, facts = _plan(args)
    directory = Path(args.out).expanduser().resolve() if args.out else stack_dir(sel.stack)
    # for the engine here when one answers; without one, files every engine takes
    try:
        with NewDirs(directory):  # a render that fails half-way leaves no directory it made
            rendered = render(
                plan,
                directory,
                project_name(sel.stack),
                notebooks=_notebooks(),
                start_interval=facts.engine.start_interval,
            )
    except OSError as e:  # /proc/nope, a read-only mount, a file where the directory should be
        from devstack.errors import UsageError

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


def cmd_profiles(args: argparse.Namespace, out: Any) -> int:
    from devstack.profiles import load_profile, profile_names

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


def _notebooks() -> Path | None:
    from devstack.resources import notebooks_dir

    return notebooks_dir()


def cmd_up(args: argparse.Namespace, out: Any) -> int:
    import time

    from rich.live import Live
    from rich.table import Table

    from devstack.config import select
    from devstack.stack import Events, up

    sel = select(profile=args.profile, services=args.services, budget=args.budget, config=args.config, stack=args.stack)
    t0 = time.monotonic()
    rows: dict[str, tuple[str, str]] = {}
    step = ["starting"]

    def view() -> Table:
        t = Table(title=f"devstack up: {step[0]} ({time.monotonic() - t0:.0f}s)", show_edge=False)
        t.add_column("service")
        t.add_column("health")
        t.add_column("detail", overflow="fold")
        for name, (state, detail) in sorted(rows.items()):
            t.add_row(name, state, detail)
        return t

    quiet = args.json or not out.is_terminal
    live = Live(view(), console=out, refresh_per_second=4, transient=True) if not quiet else None

    def on_step(msg: str) -> None:
        step[0] = msg
        if live:
            live.update(view())
        elif not args.json:
            out.print(f"[{time.monotonic() - t0:5.0f}s] {msg}")

    def on_probe(p: Any) -> None:
        before = rows.get(p.service, ("", ""))[0]
        rows[p.service] = ("[green]healthy[/]" if p.ok else "[yellow]waiting[/]", f"{p.detail} ({p.seconds:.0f}s)")
        if live:
            live.update(view())
        elif not args.json and p.ok and before != "[green]healthy[/]":
            waited = ", ".join(f"{ph} {sec:.0f}s" for ph, sec in p.waited)
            out.print(f"[{time.monotonic() - t0:5.0f}s] {p.service} healthy ({waited}): {p.detail}")

    events = Events(step=on_step, probe=on_probe)
    try:
        if live:
            with live:
                result = up(sel, notebooks=_notebooks(), events=events, from_peaks=args.from_peaks, force=args.force)
        else:
            result = up(sel, notebooks=_notebooks(), events=events, from_peaks=args.from_peaks, force=args.force)
    except KeyboardInterrupt:
        out.print(
            "[yellow]Interrupted.[/] The stack may be partly up: `devstack up` picks it up again, "
            "`devstack down` stops it."
        )
        return 130
    ok = not result.failures
    boot: list[Any] | None = None
    if ok and not args.no_bootstrap:
        from devstack.bootstrap import run as bootstrap
        from devstack.state import read_secrets

        on_step("bootstrap: topics, buckets, tables, experiment, feature TTL")
        boot = bootstrap(result.plan, read_secrets(result.directory))
    if args.json:
        print(
            json.dumps(
                {
                    "bootstrap": None if boot is None else [c.to_dict() for c in boot],
                    "stack": sel.stack,
                    "project": result.project,
                    "directory": str(result.directory),
                    "ok": ok,
                    "unchanged": result.unchanged,
                    "changes": result.changes,
                    "seconds": round(result.seconds, 1),
                    "services": {
                        n: {"ok": p.ok, "detail": p.detail, "seconds": round(p.seconds, 1), "waited": dict(p.waited)}
                        for n, p in result.probes.items()
                    },
                    "failures": [f.__dict__ for f in result.failures],
                    "skipped": result.skipped,
                },
                indent=2,
            )
        )
        return EXIT_OK if ok else EXIT_FAIL
    from devstack.output import print_endpoints

    if result.unchanged:
        out.print(f"Stack {sel.stack!r} is already up and healthy; nothing changed.")
    else:
        for c in result.changes:
            out.print(f"changed: {c}")
    for f in result.failures:
        out.print(f"[red]{f.service} is not healthy:[/] {f.reason}", highlight=False)
        out.print(f"[dim]{f.logs}[/]", highlight=False, markup=False)
        out.print(f"hint: {f.hint}")
    for n in result.skipped:
        out.print(f"[yellow]{n} was not started:[/] devstack does not run its k3d cluster yet.")
    if boot is not None:
        _print_bootstrap(out, boot, brief=True)
    print_endpoints(out, result.plan, sel.stack)
    verdict = "[green]all services healthy[/]" if ok else f"[red]{len(result.failures)} service(s) failed[/]"
    out.print(f"{verdict} in {result.seconds:.0f}s. Passwords: devstack secrets; exports: devstack env.")
    return EXIT_OK if ok else EXIT_FAIL


def _print_bootstrap(out: Any, changes: list[Any], *, brief: bool = False) -> None:
    changed = [c for c in changes if c.changed]
    differs = [c for c in changes if c.action == "differs"]
    if brief and not changed and not differs:
        out.print(f"bootstrap: {len(changes)} items already in place, nothing changed.")
        return
    from rich.table import Table

    t = Table(show_edge=False, title=None if brief else "bootstrap")
    for col in ("system", "item", "action", "detail"):
        t.add_column(col, overflow="fold")
    colour = {"created": "green", "updated": "yellow", "differs": "red", "ok": "dim"}
    for c in changes:
        if brief and c.action == "ok":
            continue
        t.add_row(c.system, c.item, f"[{colour[c.action]}]{c.action}[/]", c.detail)
    out.print(t)
    n = len(changed)
    out.print(f"bootstrap: {n} change{'s' if n != 1 else ''}" if n else "bootstrap: nothing changed.")
    for c in differs:
        out.print(f"[yellow]left alone:[/] {c.system} {c.item}: {c.detail}")


def cmd_bootstrap(args: argparse.Namespace, out: Any) -> int:
    from devstack.bootstrap import run as bootstrap
    from devstack.stack import open_stack
    from devstack.state import read_secrets

    directory, _, plan = open_stack(args.stack)
    changes = bootstrap(plan, read_secrets(directory))
    if args.json:
        print(
            json.dumps(
                {
                    "stack": args.stack,
                    "changed": sum(c.changed for c in changes),
                    "items": [c.to_dict() for c in changes],
                },
                indent=2,
            )
        )
    else:
        _print_bootstrap(out, changes)
    return EXIT_OK


def cmd_demo(args: argparse.Namespace, out: Any) -> int:
    import time

    from devstack import demo
    from devstack.errors import UsageError
    from devstack.stack import open_stack

    if args.stop:
        directory, project, _ = open_stack(args.stack)
        stopped = demo.stop(directory, project)
        if args.json:
            print(json.dumps({"stopped": stopped}))
        else:
            out.print(f"stopped: {', '.join(stopped)}" if stopped else "the demo was not running.")
        return EXIT_OK
    if args.ticks < 1:
        raise UsageError(f"--ticks {args.ticks} produces nothing.", "give a positive number, e.g. --ticks 4000.")
    build_args = parse_build_args(args.build_arg, ("mlserver",))["mlserver"]
    t0 = time.monotonic()

    last = [""]

    def step(msg: str) -> None:
        if not args.json and msg != last[0]:  # a wait reports each change once, not every poll
            last[0] = msg
            out.print(f"[{time.monotonic() - t0:5.0f}s] {msg}", highlight=False)

    c = demo.run(
        args.stack, demo.DemoOptions(ticks=args.ticks, train=not args.no_train, build_args=build_args), step=step
    )
    if args.json:
        print(json.dumps({"stack": args.stack, "seconds": round(time.monotonic() - t0, 1), **c.to_dict()}, indent=2))
        return EXIT_OK
    from rich.table import Table

    t = Table(title="what flowed", show_edge=False)
    t.add_column("stage")
    t.add_column("records", justify="right")
    for stage, figure in c.rows():
        t.add_row(stage, figure)
    out.print(t)
    out.print(
        f"done in {time.monotonic() - t0:.0f}s. The streaming job and model server keep running: "
        f"`devstack demo` again adds ticks, `devstack demo --stop` stops them."
    )
    return EXIT_OK


def cmd_status(args: argparse.Namespace, out: Any) -> int:
    from devstack.stack import status

    plan, services = status(args.stack)
    healthy = all(s.healthy for s in services)  # seldon's k3d cluster counts too, now that `up` runs it
    if args.json:
        print(
            json.dumps(
                {
                    "stack": args.stack,
                    "profile": plan.profile,
                    "healthy": healthy,
                    "budget_mib": plan.budget_mib,
                    "services": [s.__dict__ for s in services],
                },
                indent=2,
            )
        )
    else:
        from devstack.output import print_status

        print_status(out, args.stack, plan, services)
    return EXIT_OK if healthy else EXIT_FAIL


def cmd_down(args: argparse.Namespace, out: Any) -> int:
    from devstack.errors import UsageError
    from devstack.stack import down

    if args.volumes and not args.yes:
        if not sys.stdin.isatty():
            raise UsageError(
                "--volumes deletes every service's data and no one is here to confirm.",
                "add --yes to delete the volumes, or leave --volumes out to keep the data.",
            )
        answer = input(f"Delete all data of stack {args.stack!r} (Kafka, databases, buckets)? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            out.print("Nothing deleted.")
            return EXIT_OK
    gone = down(args.stack, volumes=args.volumes)
    kept = "deleted" if args.volumes else "kept (devstack down --volumes deletes them)"
    out.print(f"Stopped {len(gone)} containers of stack {args.stack!r}; data volumes {kept}.")
    return EXIT_OK


def cmd_logs(args: argparse.Namespace, out: Any) -> int:
    from devstack.engine.compose import ComposeEngine
    from devstack.errors import UsageError
    from devstack.stack import open_stack

    directory, project, plan = open_stack(args.stack)
    containers = {c: s.name for s in plan.services for c in s.containers}
    if args.service in plan.names():
        targets = list(plan.service(args.service).containers)
    elif args.service in containers:
        targets = [args.service]
    else:
        raise UsageError(
            f"{args.service!r} is not in stack {args.stack!r}.",
            f"use a service ({', '.join(plan.names())}) or a container ({', '.join(containers)}).",
        )
    engine = ComposeEngine(directory, project)
    live = {c.service for c in engine.containers()}
    present = [t for t in targets if t in live]
    if present:
        for line in engine.logs(present, tail=args.tail, follow=args.follow):
            print(line, flush=True)
        return EXIT_OK
    saved = [directory / "logs" / f"{t}.log" for t in targets if (directory / "logs" / f"{t}.log").exists()]
    if not saved:
        raise UsageError(f"{args.service} has no containers and no saved logs.", "run `devstack up`.")
    for f in saved:
        print(f"--- {f.stem} (last run, saved by devstack down) ---")
        print("\n".join(f.read_text(encoding="utf-8").splitlines()[-args.tail :]))
    return EXIT_OK


def cmd_restart(args: argparse.Namespace, out: Any) -> int:
    from devstack.stack import restart

    probes = restart(args.stack, args.service)
    bad = [p for p in probes.values() if not p.ok]
    for p in probes.values():
        out.print(f"{p.service}: {'healthy' if p.ok else 'NOT healthy'}: {p.detail} ({p.seconds:.0f}s)")
    return EXIT_FAIL if bad else EXIT_OK


def cmd_env(args: argparse.Namespace, out: Any) -> int:
    import shlex

    from devstack.endpoints import environment
    from devstack.stack import open_stack
    from devstack.state import read_secrets

    directory, _, plan = open_stack(args.stack)
    env = environment(plan, read_secrets(directory))
    from devstack.render import has_pipeline

    if has_pipeline(plan):  # the demo's MLServer (`devstack demo`), for notebooks that predict
        from devstack.demo import model_server_url

        env["MODEL_SERVER_URL"] = model_server_url()
    if args.format == "json":
        print(json.dumps(env, indent=2))
    else:
        prefix = "export " if args.format == "shell" else ""
        for k, v in env.items():
            print(f"{prefix}{k}={shlex.quote(v)}")
    return EXIT_OK


def cmd_secrets(args: argparse.Namespace, out: Any) -> int:
    from devstack.endpoints import endpoints
    from devstack.stack import open_stack
    from devstack.state import SECRETS_FILE, read_secrets

    directory, _, plan = open_stack(args.stack)
    secrets = read_secrets(directory)
    rows = [
        {"service": e.service, "url": e.url, "user": e.user, "password": secrets.get(e.secret_key, "")}
        for e in endpoints(plan)
        if e.secret_key
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for r in rows:
            out.print(f"{r['service']:11} {r['user'] or '-':9} {r['password']}  {r['url']}", highlight=False)
        out.print(f"[dim]stored in {directory / SECRETS_FILE} (mode 0600)[/]")
    return EXIT_OK


def _monitor(stack: str) -> tuple[Any, Any, Any]:
    from devstack.monitor import Monitor
    from devstack.stack import open_stack

    directory, project, plan = open_stack(stack)
    return Monitor(project, directory), plan, directory


def _interval(value: float) -> float:
    from devstack.errors import UsageError

    if not 0.2 <= value <= 3600:
        raise UsageError(f"--interval {value} is out of range.", "give seconds between 0.2 and 3600.")
    return value


def cmd_top(args: argparse.Namespace, out: Any) -> int:
    import time

    from rich.live import Live

    from devstack.output import fitted_snapshot

    interval = _interval(args.interval)
    mon, plan, _ = _monitor(args.stack)
    try:
        mon.tick()
        with Live(fitted_snapshot(out, mon.tick(), plan, mon.history), console=out, auto_refresh=False) as live:
            while True:
                time.sleep(interval)
                live.update(fitted_snapshot(out, mon.tick(), plan, mon.history), refresh=True)
    except KeyboardInterrupt:
        return EXIT_OK
    finally:
        mon.close()


def cmd_stats(args: argparse.Namespace, out: Any) -> int:
    import time

    from devstack.monitor import elsewhere, snapshot_dict
    from devstack.output import snapshot_table

    interval = _interval(args.interval)
    mon, plan, _ = _monitor(args.stack)
    limits = {s.name: s.limit_mib for s in plan.services}
    try:
        mon.tick()  # CPU %% needs two reads of the counters
        time.sleep(1.0 if args.once else min(interval, 1.0))
        while True:
            snap = mon.tick()
            if args.json:
                print(json.dumps(snapshot_dict(snap, plan.names(), limits, mon.history, elsewhere(plan))), flush=True)
            else:
                out.print(snapshot_table(snap, plan, mon.history))
            if args.once:
                return EXIT_ENV if snap.engine_error else EXIT_OK
            time.sleep(interval)
    except KeyboardInterrupt:
        return EXIT_OK
    finally:
        mon.close()


def cmd_dashboard(args: argparse.Namespace, out: Any) -> int:
    from devstack.config import select
    from devstack.dashboard.app import DashboardApp
    from devstack.dashboard.backend import make_backend

    interval = _interval(args.interval)
    # validate the selection before the screen opens: a broken profile is a one-line error, not a TUI
    sel = select(profile=args.profile, services=args.services, budget=args.budget, config=args.config, stack=args.stack)
    backend = make_backend(
        sel.stack, profile=args.profile, services=args.services, budget=args.budget, config=args.config
    )
    DashboardApp(backend, interval=interval).run()
    return EXIT_OK


def cmd_k3d(args: argparse.Namespace, out: Any) -> int:
    if args.action == "images":
        return _k3d_images(args, out)
    from devstack.k3d import status
    from devstack.state import project_name, stack_dir

    st = status(stack_dir(args.stack), project_name(args.stack))
    if args.json:
        out.print_json(json.dumps(st.to_dict()))
    else:
        tools = ", ".join(f"{k} {v}" for k, v in st.tools.items())
        out.print(f"k3d cluster {st.name!r}: {st.detail} ({tools})", highlight=False, soft_wrap=True)
    return EXIT_OK if st.cluster is not None and st.cluster.running and st.ours else EXIT_FAIL


def parse_build_args(values: list[str], recipes: tuple[str, ...]) -> dict[str, dict[str, str]]:
    """--build-arg values: NAME=VALUE for every recipe, RECIPE:NAME=VALUE for one (mlserver:BASE=...)."""
    from devstack.errors import UsageError

    out: dict[str, dict[str, str]] = {k: {} for k in recipes}
    for a in values:
        if "=" not in a:
            raise UsageError(f"--build-arg {a!r} is not NAME=VALUE.", "for example --build-arg BASE=python:3.11-slim.")
        name, _, value = a.partition("=")
        key, _, name = name.rpartition(":")
        if key and key not in out:
            raise UsageError(f"--build-arg {a!r}: no recipe {key!r}.", f"use one of {', '.join(out)}.")
        for k in [key] if key else out:
            out[k][name] = value
    return out


def _k3d_images(args: argparse.Namespace, out: Any) -> int:
    """Build and push the images the stack's cluster needs from devstack (its last plan, else seldon alone)."""
    from devstack import image_builds
    from devstack.stack import load_plan
    from devstack.state import project_name, stack_dir

    build_args = parse_build_args(args.build_arg, tuple(image_builds.RECIPES))
    facts = _facts()
    plan = load_plan(stack_dir(args.stack))
    if plan is None or "seldon" not in plan.names():
        ns = argparse.Namespace(profile=None, services="seldon", budget=None, config=None, stack=args.stack)
        _, plan, facts = _plan(ns, facts)
    arch = facts.arch or "amd64"
    say = (lambda m: None) if args.json else (lambda m: out.print(m, highlight=False, soft_wrap=True))
    report = image_builds.for_plan(
        plan, project_name(args.stack), arch, force=args.force, build_args=build_args, progress=say
    )
    if args.json:
        out.print_json(json.dumps(report.to_dict()))
        return EXIT_OK
    if not report.results:
        out.print(f"nothing to build for {arch}: upstream publishes every image the cluster runs.")
    for repo, tags in report.listing.items():
        out.print(f"{report.registry}/{repo}: {', '.join(tags) or '(no tags)'}", highlight=False, soft_wrap=True)
    return EXIT_OK


def cmd_serve(args: argparse.Namespace, out: Any) -> int:
    from devstack.serving import serve

    served = serve(args.stack, args.model, mlflow_url=args.mlflow, dry_run=args.dry_run)
    if args.dry_run:
        sys.stdout.write(served.manifests)
        return EXIT_OK
    out.print(f"served {served.deployment} ({served.model_uri}); try: devstack predict {args.model} --data '[[...]]'")
    return EXIT_OK


def cmd_predict(args: argparse.Namespace, out: Any) -> int:
    from devstack.errors import UsageError
    from devstack.serving import predict

    try:
        data = json.loads(args.data)
    except ValueError as e:
        raise UsageError(f"--data is not JSON: {e}.", "for example --data '[[5.1, 3.5, 1.4, 0.2]]'.") from None
    sys.stdout.write(json.dumps(predict(args.stack, args.model, data, url=args.url)) + "\n")
    return EXIT_OK


COMMANDS = {
    "plan": cmd_plan,
    "doctor": cmd_doctor,
    "render": cmd_render,
    "profiles": cmd_profiles,
    "up": cmd_up,
    "bootstrap": cmd_bootstrap,
    "demo": cmd_demo,
    "status": cmd_status,
    "down": cmd_down,
    "logs": cmd_logs,
    "restart": cmd_restart,
    "env": cmd_env,
    "secrets": cmd_secrets,
    "top": cmd_top,
    "stats": cmd_stats,
    "dashboard": cmd_dashboard,
    "k3d": cmd_k3d,
    "serve": cmd_serve,
    "predict": cmd_predict,
}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return EXIT_USAGE
    import logging

    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(message)s")
    from rich.console import Console

    from devstack.errors import DevstackError

    out = Console()
    err = Console(stderr=True)
    try:
        return COMMANDS[args.command](args, out)
    except DevstackError as e:
        err.print(f"[red]devstack:[/] {e.one_line()}", highlight=False, soft_wrap=True)
        return e.exit_code
    except KeyboardInterrupt:
        err.print("devstack: interrupted.")
        return 130
    except BrokenPipeError:  # `devstack env | head`: the reader left, which is not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except Exception as e:  # the last line of defence: one line, the traceback only with --verbose
        if args.verbose:
            raise
        err.print(
            f"[red]devstack: internal error:[/] {type(e).__name__}: {e}. Run with --verbose for the traceback.",
            highlight=False,
            soft_wrap=True,
        )
        return EXIT_FAIL


if __name__ == "__main__":
    raise SystemExit(main())
