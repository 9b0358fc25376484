"""Commands that watch a running stack: top, stats, dashboard."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from devstack.ui.cli.common import (
    EXIT_ENV,
    EXIT_OK,
    interval_s,
    watching,
)

if TYPE_CHECKING:
    from rich.console import Console


def cmd_top(args: argparse.Namespace, out: Console) -> int:
    import time

    from rich.live import Live

    from devstack.ui.output import fitted_snapshot

    interval = interval_s(args.interval)
    with watching(args.stack) as (mon, plan):
        mon.tick()
        with Live(fitted_snapshot(out, mon.tick(), plan, mon.history), console=out, auto_refresh=False) as live:
            while True:
                time.sleep(interval)
                live.update(fitted_snapshot(out, mon.tick(), plan, mon.history), refresh=True)
    return EXIT_OK


def cmd_stats(args: argparse.Namespace, out: Console) -> int:
    import time

    from devstack.monitor.sampler import elsewhere, snapshot_dict
    from devstack.ui.output import snapshot_table

    interval = interval_s(args.interval)
    with watching(args.stack) as (mon, plan):
        limits = {s.name: s.limit_mib for s in plan.services}
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
    return EXIT_OK


def cmd_dashboard(args: argparse.Namespace, out: Console) -> int:
    from devstack.planning.config import select
    from devstack.ui.tui.app import DashboardApp
    from devstack.ui.tui.backend import make_backend

    interval = interval_s(args.interval)
    # validate the selection before the screen opens: a broken profile is a one-line error, not a TUI
    sel = select(profile=args.profile, services=args.services, budget=args.budget, config=args.config, stack=args.stack)
    backend = make_backend(
        sel.stack, profile=args.profile, services=args.services, budget=args.budget, config=args.config
    )
    DashboardApp(backend, interval=interval).run()
    return EXIT_OK
