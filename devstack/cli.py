"""The command line: parse, call the core, print. Imports stay lazy so `--help` and `--version` answer at once
(no Docker, Textual or pydantic import on their path)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from devstack import __version__

EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_ENV = 0, 1, 2, 3


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
    p.add_argument("--stack", help="stack name (default: default), for several stacks side by side")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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

    p = sub.add_parser("doctor", help="check this machine and its Docker engine for the plan")
    _common(p)
    p.add_argument("--json", action="store_true", help="print the findings as JSON")

    p = sub.add_parser("render", help="write the stack (Compose files, .env, configs) for plain `docker compose`")
    _common(p)
    p.add_argument("--out", "-o", help="directory to write (default: the stack's state dir)")
    p.add_argument("--json", action="store_true", help="print what was written as JSON")

    p = sub.add_parser("profiles", help="list the shipped profiles")
    p.add_argument("--json", action="store_true")
    return parser


# ---------------------------------------------------------------- commands


def _facts(ports: list[int] | None = None, bind: str = "127.0.0.1", tools: bool = False) -> Any:
    from devstack.host import host_facts

    return host_facts(ports, bind, with_tools=tools)


def _plan(args: argparse.Namespace, facts: Any = None) -> tuple[Any, Any, Any]:
    from devstack.config import plan_request, select
    from devstack.plan import make_plan

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
    return sel, make_plan(req), facts


def cmd_plan(args: argparse.Namespace, out: Any) -> int:
    _, plan, _ = _plan(args)
    if args.json:
        print(json.dumps(plan.to_dict(), indent=2))
    else:
        from devstack.output import print_plan

        print_plan(out, plan)
    return EXIT_OK


def _planned_ports(plan: Any) -> dict[int, str]:
    return {h: f"{s.name}.{name}" for s in plan.services for name, hosts in s.ports.items() for h in hosts}


def cmd_doctor(args: argparse.Namespace, out: Any) -> int:
    from devstack.config import plan_request, select
    from devstack.doctor import Level, diagnose, worst
    from devstack.errors import BudgetTooSmall
    from devstack.plan import make_plan

    sel = select(profile=args.profile, services=args.services, budget=args.budget, config=args.config, stack=args.stack)
    facts = _facts(tools=True)
    engine = facts.engine.mem_mib if facts.engine.reachable else None
    req = plan_request(sel, engine_mib=engine, host_mib=facts.host_mib, arch=facts.arch)
    from devstack.catalog import CATALOG, closure

    names = closure(list(sel.services))
    floors = 0
    for n in names:
        s = sel.settings.get(n)
        per = (s.memory if s and s.memory else None) or CATALOG[n].memory.floor
        floors += per * ((s.replicas if s and s.replicas else None) or CATALOG[n].min_replicas)
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
    from devstack.resources import resource_dir
    from devstack.state import project_name, stack_dir

    sel, plan, _ = _plan(args)
    directory = Path(args.out).expanduser().resolve() if args.out else stack_dir(sel.stack)
    local_nb = Path.cwd() / "notebooks"
    notebooks = local_nb if local_nb.is_dir() else resource_dir("notebooks") if _has_notebooks() else None
    rendered = render(plan, directory, project_name(sel.stack), notebooks=notebooks)
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


def _has_notebooks() -> bool:
    from devstack.resources import resource_dir

    try:
        resource_dir("notebooks")
        return True
    except FileNotFoundError:
        return False


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


COMMANDS = {"plan": cmd_plan, "doctor": cmd_doctor, "render": cmd_render, "profiles": cmd_profiles}


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
