"""snapshot, restore: a stack's data copied out, and put back (lifecycle/snapshot.py)."""

from __future__ import annotations

import argparse
import json
import sys

from rich.console import Console
from rich.table import Table

from devstack.core.errors import UsageError
from devstack.ui.cli.common import EXIT_FAIL, EXIT_OK


def _print_probes(out: Console, probes: dict[str, object]) -> bool:
    bad = [p for p in probes.values() if not getattr(p, "ok", False)]
    for p in bad:
        out.print(f"[red]{getattr(p, 'service', '?')} is not healthy:[/] {getattr(p, 'detail', '')}", highlight=False)
    return not bad


def cmd_snapshot(args: argparse.Namespace, out: Console) -> int:
    from devstack.lifecycle import snapshot as snap

    if args.name == "list":
        found = snap.list_snapshots(args.stack)
        if args.json:
            print(json.dumps([s.to_dict() for s in found], indent=2))
            return EXIT_OK
        if not found:
            out.print(f"Stack {args.stack!r} has no snapshots yet: `devstack snapshot --stack {args.stack}` takes one.")
            return EXIT_OK
        t = Table(title=f"Snapshots of stack {args.stack!r}")
        for col in ("name", "taken (UTC)", "size", "services"):
            t.add_column(col, overflow="fold")
        for s in found:
            t.add_row(s.name, s.created.replace("T", " ")[:19], s.size, ", ".join(s.services))
        out.print(t)
        return EXIT_OK
    if args.delete:
        if args.name is None or args.name == "list":
            raise UsageError("--delete needs the snapshot's name.", "give it: devstack snapshot NAME --delete.")
        snap.check_name(args.name)
        if not args.yes:
            if not sys.stdin.isatty():
                raise UsageError(
                    f"--delete removes snapshot {args.name!r} and no one is here to confirm.", "add --yes."
                )
            if input(f"Delete snapshot {args.name!r} of stack {args.stack!r}? [y/N] ").strip().lower() not in (
                "y",
                "yes",
            ):
                out.print("Nothing deleted.")
                return EXIT_OK
        info = snap.delete(args.stack, args.name)
        out.print(f"Deleted snapshot {info.name!r} ({info.size}).")
        return EXIT_OK
    if args.keep is not None and args.every is None:
        raise UsageError("--keep goes with --every (it prunes scheduled snapshots).", "add --every 6h, or drop --keep.")
    if args.every is not None:
        if args.name is not None:
            raise UsageError(
                "scheduled snapshots are named by the time (auto-...).", "leave the name out with --every."
            )
        keep = 8 if args.keep is None else args.keep
        if keep < 1:
            raise UsageError(f"--keep {keep} would keep nothing.", "give --keep 1 or more.")
        every = snap.parse_every(args.every)

        def done(info: snap.SnapshotInfo, pruned: list[str]) -> None:
            gone = f"; removed {', '.join(pruned)}" if pruned else ""
            out.print(f"snapshot {info.name}: {info.size}{gone}; next in {args.every} (Ctrl-C stops)")

        try:
            snap.schedule(args.stack, every, keep, on_snapshot=done, progress=lambda s: out.print(f"[dim]{s}[/]"))
        except KeyboardInterrupt:
            out.print("Stopped taking snapshots.")
        return EXIT_OK
    progress = (lambda s: None) if args.json else (lambda s: out.print(f"[dim]{s}[/]"))
    info, probes = snap.take(args.stack, args.name, progress=progress)
    if args.json:
        print(json.dumps({**info.to_dict(), "healthy": all(p.ok for p in probes.values())}, indent=2))
        return EXIT_OK if all(p.ok for p in probes.values()) else EXIT_FAIL
    out.print(f"Snapshot {info.name!r} of stack {args.stack!r}: {len(info.volumes)} volumes, {info.size}.")
    return EXIT_OK if _print_probes(out, dict(probes)) else EXIT_FAIL


def cmd_restore(args: argparse.Namespace, out: Console) -> int:
    from devstack.lifecycle import snapshot as snap

    snap.check_name(args.name)
    if not args.yes:
        if not sys.stdin.isatty():
            raise UsageError(
                f"restoring {args.name!r} replaces every service's data in stack {args.stack!r}, and no one is here "
                "to confirm.",
                "add --yes to restore.",
            )
        answer = input(f"Replace all data of stack {args.stack!r} with snapshot {args.name!r}? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            out.print("Nothing restored.")
            return EXIT_OK
    progress = (lambda s: None) if args.json else (lambda s: out.print(f"[dim]{s}[/]"))
    info, probes = snap.restore(args.stack, args.name, progress=progress)
    healthy = all(p.ok for p in probes.values())
    if args.json:
        print(json.dumps({"restored": info.name, "stack": args.stack, "healthy": healthy}, indent=2))
    else:
        out.print(f"Restored snapshot {info.name!r} ({info.size}) into stack {args.stack!r}; it is up.")
        _print_probes(out, dict(probes))
    return EXIT_OK if healthy else EXIT_FAIL
