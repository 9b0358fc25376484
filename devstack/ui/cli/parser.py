"""The command line's grammar: every command, its options and their help, and the checks argparse can make
before anything else runs (a stack name). Importing it loads nothing but argparse."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, NoReturn

from devstack import __version__
from devstack.ui.cli.common import EXIT_USAGE


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors as devstack's other bad input: one line with the cause and the fix, exit 2 (not
    the usage text first, which pushes the cause out of a narrow terminal)."""

    def error(self, message: str) -> NoReturn:
        if "Fix:" not in message:
            message = f"{message.rstrip('.')}. Fix: see `{self.prog} --help`."
        self.exit(EXIT_USAGE, f"{self.prog}: {message}\n")


if TYPE_CHECKING:
    Subparsers = argparse._SubParsersAction[_Parser]


def _stack(value: str) -> str:
    """--stack, checked while the arguments are parsed: before Docker is asked anything or a directory is made."""
    from devstack.core.errors import UsageError
    from devstack.planning.stack_names import check_stack_name

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

    for group in (_planning, _lifecycle, _snapshots, _access, _watch, _cluster):  # as cli/<group>.py holds them
        group(sub)
    return parser


def _stack_only(p: argparse.ArgumentParser) -> None:
    """--stack for a command that acts on a stack already planned (no profile, services or budget)."""
    p.add_argument("--stack", default="default", type=_stack)


def _build_arg(p: argparse.ArgumentParser, metavar: str, help: str) -> None:
    """--build-arg, repeatable, for the commands that build devstack's own images (up, demo, k3d images)."""
    p.add_argument("--build-arg", action="append", default=[], metavar=metavar, help=help)


def _snapshots(sub: Subparsers) -> None:
    """snapshot, restore."""
    p = sub.add_parser(
        "snapshot",
        help="copy every service's data and the stack's secrets (`snapshot list` lists them); stops a running "
        "stack for the copy",
    )
    _stack_only(p)
    p.add_argument("name", nargs="?", help="its name (default: the time, 20261205-163000); `list` lists them")
    p.add_argument("--every", metavar="PERIOD", help="take one every PERIOD (6h, 30m, 1d) until Ctrl-C")
    p.add_argument("--keep", type=int, metavar="N", help="with --every: keep the newest N scheduled ones (default 8)")
    p.add_argument("--delete", action="store_true", help="delete the snapshot NAME (asks first)")
    p.add_argument("--yes", "-y", action="store_true", help="with --delete: do not ask")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("restore", help="replace the stack's data with a snapshot's, then bring it up (asks first)")
    _stack_only(p)
    p.add_argument("name", help="the snapshot (devstack snapshot list)")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask before replacing the data")
    p.add_argument("--json", action="store_true")


def _planning(sub: Subparsers) -> None:
    """plan, doctor, render, profiles: no running stack needed."""
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


def _lifecycle(sub: Subparsers) -> None:
    """up, bootstrap, demo, status, down, logs, restart."""
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
    _build_arg(
        p,
        "[RECIPE:]NAME=VALUE",
        "for devstack's own images the Seldon cluster needs, as `k3d images` takes it (mlserver:BASE=...)",
    )

    p = sub.add_parser(
        "bootstrap", help="create what the pipeline expects (topics, buckets, tables, experiment); safe to re-run"
    )
    _stack_only(p)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser(
        "demo", help="run the reference pipeline: ticks -> Kafka -> Spark -> ClickHouse -> Airflow/MLflow -> MLServer"
    )
    _stack_only(p)
    p.add_argument("--ticks", type=int, default=4000, help="synthetic ticks to produce (default: 4000)")
    p.add_argument("--no-train", action="store_true", help="serve the newest registered model instead of training")
    p.add_argument("--stop", action="store_true", help="stop the demo's streaming job and model server")
    p.add_argument("--json", action="store_true", help="print the counts at each stage as JSON")
    _build_arg(p, "NAME=VALUE", "for devstack's MLServer image when the demo builds it (PIP_INDEX_URL=..., BASE=...)")

    p = sub.add_parser("status", help="state, health, ports and memory of each service, asked of the engine")
    _stack_only(p)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("down", help="stop and remove the containers (data volumes are kept)")
    _stack_only(p)
    p.add_argument("--volumes", action="store_true", help="also delete the data volumes (asks first)")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask before deleting volumes")

    p = sub.add_parser("logs", help="a service's logs (the last run's too, after down)")
    p.add_argument("service", help="a service (kafka) or one of its containers (kafka-2)")
    _stack_only(p)
    p.add_argument("--follow", "-f", action="store_true")
    p.add_argument("--tail", type=int, default=200, help="lines from the end (default 200)")

    p = sub.add_parser("restart", help="restart a service and wait until it is healthy again")
    p.add_argument("service")
    _stack_only(p)


def _access(sub: Subparsers) -> None:
    """env, secrets."""
    p = sub.add_parser("env", help="every endpoint and credential, for notebooks and tools")
    _stack_only(p)
    p.add_argument("--format", choices=["shell", "dotenv", "json"], default="shell")
    p.add_argument(
        "--plain",
        action="store_true",
        help="with the TLS proxy planned: the plain ports on 127.0.0.1 rather than the TLS twins and the CA",
    )

    p = sub.add_parser("secrets", help="the stack's user names and passwords")
    _stack_only(p)
    p.add_argument("--json", action="store_true")


def _watch(sub: Subparsers) -> None:
    """top, stats, dashboard."""
    p = sub.add_parser("top", help="live memory, CPU and health of every service (Ctrl-C quits)")
    _stack_only(p)
    p.add_argument("--interval", "-n", type=float, default=2.0, help="seconds between samples (default 2)")

    p = sub.add_parser("stats", help="memory, CPU, restarts and peaks of every service, as text or JSON lines")
    _stack_only(p)
    p.add_argument("--json", action="store_true", help="one JSON object per sample")
    p.add_argument("--once", action="store_true", help="one sample (two engine reads a second apart, for CPU %%)")
    p.add_argument("--interval", "-n", type=float, default=2.0, help="seconds between samples (default 2)")

    p = sub.add_parser("dashboard", help="the interactive dashboard (Textual): health, memory, logs, actions")
    _common(p)
    p.add_argument("--interval", "-n", type=float, default=1.0, help="seconds between samples (default 1)")


def _cluster(sub: Subparsers) -> None:
    """k3d, serve, predict."""
    p = sub.add_parser("k3d", help="the Seldon k3d cluster: `devstack k3d status`, `devstack k3d images`")
    p.add_argument(
        "action",
        choices=["status", "images"],
        help="status: the tools, and whether the cluster runs and is ours; images: build and push devstack's own "
        "images for the cluster's architecture (Seldon's amd64-only parts on arm64), list the build registry",
    )
    _stack_only(p)
    p.add_argument("--json", action="store_true")
    p.add_argument("--force", action="store_true", help="images: build every recipe, even where upstream has a build")
    _build_arg(
        p, "[RECIPE:]NAME=VALUE", "images: a build arg for every recipe, or for one (mlserver:BASE=python:3.11-slim)"
    )

    p = sub.add_parser("serve", help="deploy a model from MLflow's registry on Seldon (k3d), V2 REST")
    p.add_argument("model", metavar="MODEL[:VERSION]", help="a registered model; the newest version by default")
    _stack_only(p)
    p.add_argument("--mlflow", metavar="URL", help="MLflow's URL (default: the stack's)")
    p.add_argument("--dry-run", action="store_true", help="print the manifests instead of applying them")

    p = sub.add_parser("predict", help="send a V2 inference request to a served model")
    p.add_argument("model", metavar="MODEL[:VERSION]")
    p.add_argument("--data", required=True, help="JSON: a row, a list of rows, or a whole V2 request")
    _stack_only(p)
    p.add_argument(
        "--url",
        help="a V2 server to ask instead of the stack's cluster (e.g. the demo's, http://127.0.0.1:18080): MODEL by "
        "its name there, else by Seldon's node name 'model'",
    )
