"""Commands for the k3d cluster and model serving: k3d, serve, predict."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from devstack.ui.cli.common import (
    EXIT_FAIL,
    EXIT_OK,
    host,
    parse_build_args,
    plan_for,
)

if TYPE_CHECKING:
    from rich.console import Console


def cmd_k3d(args: argparse.Namespace, out: Console) -> int:
    if args.action == "images":
        return _k3d_images(args, out)
    from devstack.render.state import project_name, stack_dir
    from devstack.runtime.k3d import status

    st = status(stack_dir(args.stack), project_name(args.stack))
    if args.json:
        out.print_json(json.dumps(st.to_dict()))
    else:
        tools = ", ".join(f"{k} {v}" for k, v in st.tools.items())
        out.print(f"k3d cluster {st.name!r}: {st.detail} ({tools})", highlight=False, soft_wrap=True)
    return EXIT_OK if st.cluster is not None and st.cluster.running and st.ours else EXIT_FAIL


def _k3d_images(args: argparse.Namespace, out: Console) -> int:
    """Build and push the images the stack's cluster needs from devstack (its last plan, else seldon alone)."""
    from devstack.lifecycle.stack import load_plan
    from devstack.render.state import project_name, stack_dir
    from devstack.runtime import image_builds

    build_args = parse_build_args(args.build_arg, tuple(image_builds.RECIPES))
    facts = host()
    plan = load_plan(stack_dir(args.stack))
    if plan is None or "seldon" not in plan.names():
        ns = argparse.Namespace(profile=None, services="seldon", budget=None, config=None, stack=args.stack)
        _, plan, facts = plan_for(ns, facts)
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


def cmd_serve(args: argparse.Namespace, out: Console) -> int:
    from devstack.lifecycle.serving import serve

    served = serve(args.stack, args.model, mlflow_url=args.mlflow, dry_run=args.dry_run)
    if args.dry_run:
        sys.stdout.write(served.manifests)
        return EXIT_OK
    out.print(f"served {served.deployment} ({served.model_uri}); try: devstack predict {args.model} --data '[[...]]'")
    return EXIT_OK


def cmd_predict(args: argparse.Namespace, out: Console) -> int:
    from devstack.core.errors import UsageError
    from devstack.lifecycle.serving import predict

    try:
        data = json.loads(args.data)
    except ValueError as e:
        raise UsageError(f"--data is not JSON: {e}.", "for example --data '[[5.1, 3.5, 1.4, 0.2]]'.") from None
    sys.stdout.write(json.dumps(predict(args.stack, args.model, data, url=args.url)) + "\n")
    return EXIT_OK
