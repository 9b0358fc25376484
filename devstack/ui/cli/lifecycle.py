"""Commands that change or ask a stack: up, bootstrap, demo, status, down, logs, restart."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from devstack.ui.cli.common import (
    EXIT_FAIL,
    EXIT_OK,
    notebooks_dir,
    parse_build_args,
)

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from devstack.lifecycle.bootstrap.report import Change
    from devstack.lifecycle.stack import Events, UpResult
    from devstack.runtime.health import Probe


def cmd_up(args: argparse.Namespace, out: Console) -> int:
    import contextlib

    from devstack.lifecycle.stack import up
    from devstack.planning.config import select
    from devstack.runtime.image_builds import RECIPES

    build_args = parse_build_args(args.build_arg, tuple(RECIPES))  # before anything is asked of Docker
    sel = select(profile=args.profile, services=args.services, budget=args.budget, config=args.config, stack=args.stack)
    progress = _UpProgress(out, quiet=args.json or not out.is_terminal, silent=args.json)
    try:
        with progress.live or contextlib.nullcontext():
            result = up(
                sel,
                notebooks=notebooks_dir(),
                events=progress.events(),
                from_peaks=args.from_peaks,
                force=args.force,
                build_args=build_args,
            )
    except KeyboardInterrupt:
        out.print(
            "[yellow]Interrupted.[/] The stack may be partly up: `devstack up` picks it up again, "
            "`devstack down` stops it."
        )
        return 130
    ok = not result.failures
    boot: list[Change] | None = None
    if ok and not args.no_bootstrap:
        from devstack.lifecycle.bootstrap import run as bootstrap
        from devstack.render.state import read_secrets

        progress.on_step("bootstrap: topics, buckets, tables, experiment, feature TTL")
        boot = bootstrap(result.plan, read_secrets(result.directory), project=result.project)
    if args.json:
        print(json.dumps(_up_json(sel.stack, result, boot), indent=2))
    else:
        _print_up(out, sel.stack, result, boot)
    return EXIT_OK if ok else EXIT_FAIL


class _UpProgress:
    """What `up` shows while it works: a live table of the services' health on a terminal, one line a step and
    a line a healthy service otherwise, nothing with --json (`silent`)."""

    def __init__(self, out: Console, *, quiet: bool, silent: bool) -> None:
        import time

        from rich.live import Live

        self.out, self.silent, self.t0 = out, silent, time.monotonic()
        self.rows: dict[str, tuple[str, str]] = {}
        self.step = "starting"
        self.live = Live(self.view(), console=out, refresh_per_second=4, transient=True) if not quiet else None

    def _elapsed(self) -> float:
        import time

        return time.monotonic() - self.t0

    def view(self) -> Table:
        from rich.table import Table

        t = Table(title=f"devstack up: {self.step} ({self._elapsed():.0f}s)", show_edge=False)
        t.add_column("service")
        t.add_column("health")
        t.add_column("detail", overflow="fold")
        for name, (state, detail) in sorted(self.rows.items()):
            t.add_row(name, state, detail)
        return t

    def events(self) -> Events:
        from devstack.lifecycle.stack import Events

        return Events(step=self.on_step, probe=self.on_probe)

    def on_step(self, msg: str) -> None:
        self.step = msg
        if self.live:
            self.live.update(self.view())
        elif not self.silent:
            self.out.print(f"[{self._elapsed():5.0f}s] {msg}")

    def on_probe(self, p: Probe) -> None:
        before = self.rows.get(p.service, ("", ""))[0]
        self.rows[p.service] = (
            "[green]healthy[/]" if p.ok else "[yellow]waiting[/]",
            f"{p.detail} ({p.seconds:.0f}s)",
        )
        if self.live:
            self.live.update(self.view())
        elif not self.silent and p.ok and before != "[green]healthy[/]":
            waited = ", ".join(f"{ph} {sec:.0f}s" for ph, sec in p.waited)
            self.out.print(f"[{self._elapsed():5.0f}s] {p.service} healthy ({waited}): {p.detail}")


def _up_json(stack: str, result: UpResult, boot: list[Change] | None) -> dict[str, object]:
    return {
        "bootstrap": None if boot is None else [c.to_dict() for c in boot],
        "stack": stack,
        "project": result.project,
        "directory": str(result.directory),
        "ok": not result.failures,
        "unchanged": result.unchanged,
        "changes": result.changes,
        "seconds": round(result.seconds, 1),
        "services": {
            n: {"ok": p.ok, "detail": p.detail, "seconds": round(p.seconds, 1), "waited": dict(p.waited)}
            for n, p in result.probes.items()
        },
        "failures": [f.__dict__ for f in result.failures],
        "skipped": result.skipped,
    }


def _print_up(out: Console, stack: str, result: UpResult, boot: list[Change] | None) -> None:
    from devstack.ui.output import print_endpoints

    if result.unchanged:
        out.print(f"Stack {stack!r} is already up and healthy; nothing changed.")
    else:
        for c in result.changes:
            out.print(f"changed: {c}")
    from rich.text import Text

    for f in result.failures:  # Docker's and the tools' words as they are: a `[...]` in them is not markup
        out.print(Text.assemble((f"{f.service} is not healthy: ", "red"), f.reason), highlight=False)
        if f.logs:
            out.print(Text(f.logs, style="dim"), highlight=False)
        out.print(Text(f"hint: {f.hint}"), highlight=False)
    for n in result.skipped:
        out.print(f"[yellow]{n} was not started:[/] devstack does not run its k3d cluster yet.")
    if boot is not None:
        _print_bootstrap(out, boot, brief=True)
    print_endpoints(out, result.plan, stack)
    ok = not result.failures
    verdict = "[green]all services healthy[/]" if ok else f"[red]{len(result.failures)} service(s) failed[/]"
    out.print(f"{verdict} in {result.seconds:.0f}s. Passwords: devstack secrets; exports: devstack env.")


def _print_bootstrap(out: Console, changes: list[Change], *, brief: bool = False) -> None:
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


def cmd_bootstrap(args: argparse.Namespace, out: Console) -> int:
    from devstack.lifecycle.bootstrap import run as bootstrap
    from devstack.lifecycle.stack import open_stack
    from devstack.render.state import read_secrets

    directory, project, plan = open_stack(args.stack)
    changes = bootstrap(plan, read_secrets(directory), project=project)
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


def cmd_demo(args: argparse.Namespace, out: Console) -> int:
    import time

    from devstack import demo
    from devstack.core.errors import UsageError
    from devstack.lifecycle.stack import open_stack

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


def cmd_status(args: argparse.Namespace, out: Console) -> int:
    from devstack.lifecycle.stack import status

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
        from devstack.ui.output import print_status

        print_status(out, args.stack, plan, services)
    return EXIT_OK if healthy else EXIT_FAIL


def cmd_down(args: argparse.Namespace, out: Console) -> int:
    from devstack.core.errors import UsageError
    from devstack.lifecycle.stack import down

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


def cmd_logs(args: argparse.Namespace, out: Console) -> int:
    from devstack.core.errors import UsageError
    from devstack.lifecycle.stack import open_stack
    from devstack.runtime.engine.compose import ComposeEngine

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


def cmd_restart(args: argparse.Namespace, out: Console) -> int:
    from devstack.lifecycle.stack import restart

    probes = restart(args.stack, args.service)
    bad = [p for p in probes.values() if not p.ok]
    for p in probes.values():
        out.print(f"{p.service}: {'healthy' if p.ok else 'NOT healthy'}: {p.detail} ({p.seconds:.0f}s)")
    return EXIT_FAIL if bad else EXIT_OK
