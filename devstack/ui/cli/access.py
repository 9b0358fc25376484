"""Commands that hand out the stack's endpoints and credentials: env, secrets."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from devstack.ui.cli.common import (
    EXIT_OK,
)

if TYPE_CHECKING:
    from pathlib import Path

    from rich.console import Console

    from devstack.planning.plan import Plan


def cmd_env(args: argparse.Namespace, out: Console) -> int:
    import shlex

    from devstack.lifecycle.stack import open_stack
    from devstack.planning.endpoints import environment
    from devstack.render.state import read_secrets

    directory, _, plan = open_stack(args.stack)
    env = environment(plan, read_secrets(directory), "" if args.plain else _ca_file(directory, plan))
    from devstack.render.project import has_pipeline

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


def _ca_file(directory: Path, plan: Plan) -> str:
    """The stack's CA, when the plan has the TLS proxy (render made it): clients then get the TLS twins."""
    from devstack.services.base import TLS
    from devstack.services.tls import CA_CERT, CERT_DIR

    ca = directory / CERT_DIR / CA_CERT
    return str(ca) if TLS in plan.names() and ca.is_file() else ""


def cmd_secrets(args: argparse.Namespace, out: Console) -> int:
    from devstack.lifecycle.stack import open_stack
    from devstack.planning.endpoints import endpoints
    from devstack.render.state import SECRETS_FILE, read_secrets

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
