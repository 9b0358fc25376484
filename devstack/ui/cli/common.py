"""What several commands share: exit codes, host facts, a plan from the common options, the notebooks dir."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from rich.console import Console

    from devstack.monitor.sampler import Monitor
    from devstack.planning.config import Selection
    from devstack.planning.plan import Plan
    from devstack.runtime.host import HostFacts

EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_ENV = 0, 1, 2, 3


class DeferredConsole:
    """rich's Console, made on first use: its import costs more than a quick command's whole work. Every attribute
    is the real console's, so it prints, measures and styles the same; it is not one for `isinstance`, so it is
    never handed to a Live or Progress display."""

    def __init__(self, **options: object) -> None:
        self._options = options
        self._console: Console | None = None

    def __getattr__(self, name: str) -> object:
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)  # type: ignore[arg-type]
        return getattr(self._console, name)


def host(ports: list[int] | None = None, bind: str = "127.0.0.1", tools: bool = False) -> HostFacts:
    from devstack.runtime.host import host_facts

    return host_facts(ports, bind, with_tools=tools)


def _in_background(read: Callable[[], HostFacts]) -> Callable[[], HostFacts]:
    """Start `read` in a thread; the returned function waits for its result (or raises its error)."""
    import threading

    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["value"] = read()
        except BaseException as e:  # handed to the caller, who raises it as its own
            box["error"] = e

    t = threading.Thread(target=run, name="host-facts", daemon=True)
    t.start()

    def result() -> HostFacts:
        t.join()
        if "error" in box:
            raise box["error"]  # type: ignore[misc]
        return box["value"]  # type: ignore[return-value]

    return result


def plan_for(
    args: argparse.Namespace, facts: HostFacts | None = None, *, over_engine_ok: bool = True
) -> tuple[Selection, Plan, HostFacts]:
    # the host's facts (one `docker info`, ~50 ms) are read while the planner's modules load and the profile is
    # validated: the wait for Docker overlaps the imports instead of following them
    reading = None if facts is not None else _in_background(host)
    from devstack.planning.config import plan_request, select
    from devstack.planning.plan import make_plan, refuse_over_engine

    sel = select(
        profile=args.profile,
        services=args.services,
        budget=getattr(args, "budget", None),
        config=args.config,
        stack=args.stack,
    )
    if reading is not None:
        facts = reading()
    assert facts is not None
    engine = facts.engine.mem_mib if facts.engine.reachable else None
    req = plan_request(sel, engine_mib=engine, host_mib=facts.host_mib, arch=facts.arch)
    if not over_engine_ok:
        refuse_over_engine(req)
    return sel, make_plan(req), facts


def planned_ports(plan: Plan) -> dict[int, str]:
    return {h: f"{s.name}.{name}" for s in plan.services for name, hosts in s.ports.items() for h in hosts}


def notebooks_dir() -> Path | None:
    from devstack.core.resources import notebooks_dir

    return notebooks_dir()


@contextmanager
def watching(stack: str) -> Iterator[tuple[Monitor, Plan]]:
    """A monitor of the stack and its plan, for `top` and `stats`: closed when the watch ends, and Ctrl-C ends the
    watch (exit 0), not the program with a traceback."""
    from devstack.lifecycle.stack import open_stack
    from devstack.monitor.sampler import Monitor

    directory, project, plan = open_stack(stack)
    mon = Monitor(project, directory)
    try:
        yield mon, plan
    except KeyboardInterrupt:
        pass
    finally:
        mon.close()


def interval_s(value: float) -> float:
    from devstack.core.errors import UsageError

    if not 0.2 <= value <= 3600:
        raise UsageError(f"--interval {value} is out of range.", "give seconds between 0.2 and 3600.")
    return value


def parse_build_args(values: list[str], recipes: tuple[str, ...]) -> dict[str, dict[str, str]]:
    """--build-arg values: NAME=VALUE for every recipe, RECIPE:NAME=VALUE for one (mlserver:BASE=...)."""
    from devstack.core.errors import UsageError

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
