"""The command line: parse (parser.py), call one command's function, print. A command's module is imported only
when that command runs, so `--help` and `--version` answer at once (no Docker, Textual or pydantic import on
their path) and `plan` loads no code of `up`'s."""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING, cast

from devstack.ui.cli.common import EXIT_FAIL, EXIT_OK, EXIT_USAGE
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


def _err() -> Console:
    from rich.console import Console

    return Console(stderr=True)


class _LazyConsole:
    """rich's Console, made on first use: `plan --json` and the other commands that print JSON never load rich."""

    def __init__(self) -> None:
        self._console: Console | None = None

    def __getattr__(self, name: str) -> object:
        if self._console is None:
            from rich.console import Console

            self._console = Console()
        return getattr(self._console, name)


def lazy_console() -> Console:
    return cast("Console", _LazyConsole())


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return EXIT_USAGE
    import logging
    import os

    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(message)s")
    # devstack's models use no pydantic plugin; without this, pydantic scans every installed distribution's entry
    # points for one on the first model (about a tenth of `plan`'s start-up)
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    from devstack.core.errors import DevstackError

    out = lazy_console()
    try:
        return command(args.command)(args, out)
    except DevstackError as e:
        _err().print(f"[red]devstack:[/] {e.one_line()}", highlight=False, soft_wrap=True)
        return e.exit_code
    except KeyboardInterrupt:
        _err().print("devstack: interrupted.")
        return 130
    except BrokenPipeError:  # `devstack env | head`: the reader left, which is not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except Exception as e:  # the last line of defence: one line, the traceback only with --verbose
        if args.verbose:
            raise
        _err().print(
            f"[red]devstack: internal error:[/] {type(e).__name__}: {e}. Run with --verbose for the traceback.",
            highlight=False,
            soft_wrap=True,
        )
        return EXIT_FAIL


if __name__ == "__main__":
    raise SystemExit(main())
