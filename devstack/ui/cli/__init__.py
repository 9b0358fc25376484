"""The command line: parse (parser.py), call one command's function, print. A command's module is imported only
when that command runs, so `--help` and `--version` answer at once (no Docker, Textual or pydantic import on
their path) and `plan` loads no code of `up`'s."""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING, cast

from devstack.ui.cli.common import EXIT_FAIL, EXIT_OK, EXIT_USAGE, DeferredConsole
from devstack.ui.cli.parser import build_parser

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable

    from rich.console import Console

# command -> the module under devstack/ui/cli/ whose cmd_<command> runs it
COMMANDS = {
    "plan": "planning",
    "doctor": "planning",
    "render": "planning",
    "profiles": "planning",
    "up": "lifecycle",
    "bootstrap": "lifecycle",
    "demo": "lifecycle",
    "status": "lifecycle",
    "down": "lifecycle",
    "logs": "lifecycle",
    "restart": "lifecycle",
    "snapshot": "snapshots",
    "restore": "snapshots",
    "env": "access",
    "secrets": "access",
    "top": "watch",
    "stats": "watch",
    "dashboard": "watch",
    "k3d": "cluster",
    "serve": "cluster",
    "predict": "cluster",
}


def command(name: str) -> Callable[[argparse.Namespace, Console], int]:
    module = importlib.import_module(f"devstack.ui.cli.{COMMANDS[name]}")
    run: Callable[[argparse.Namespace, Console], int] = getattr(module, f"cmd_{name}")
    return run


def console(name: str) -> Console:
    """The console a command prints through. The planning commands get one that imports rich only when they
    print through it: `plan --json` and `render` never do, and the import is a fifth of their start-up (issue
    14.7). Commands that hand the console to a Live display get rich's own."""
    if COMMANDS[name] == "planning":
        return cast("Console", DeferredConsole())
    from rich.console import Console

    return Console()


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return EXIT_USAGE
    import os

    if args.verbose:
        import logging

        logging.basicConfig(level=logging.DEBUG, format="%(message)s")
    # else logging's last-resort handler prints warnings and errors, the message alone, as basicConfig would
    # pydantic scans every installed distribution's entry points for plugins the first time it builds a model;
    # devstack's models have none, and the scan costs `plan` a tenth of its start-up (issue 14.7)
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    from devstack.core.errors import DevstackError

    out = console(args.command)
    err = cast("Console", DeferredConsole(stderr=True))
    try:
        return command(args.command)(args, out)
    except DevstackError as e:
        err.print(f"[red]devstack:[/] {e.one_line()}", highlight=False, soft_wrap=True)
        return e.exit_code
    except KeyboardInterrupt:
        err.print("devstack: interrupted.")
        return 130
    except BrokenPipeError:  # `devstack env | head`: the reader left, which is not an error
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
