"""Where each service answers from the host, and with which credentials. Pure: plan + secrets in.

`up` prints these, `status` and the probes use them, and `devstack env` exports them, so notebooks on the host
and inside JupyterLab read the same variable names (inside, the Compose names replace 127.0.0.1). Each service's
module says its own (`endpoint`, `client_env`); this module only walks the plan."""

from __future__ import annotations

from devstack.planning.context import context, planned
from devstack.planning.plan import Plan
from devstack.services.base import Endpoint

__all__ = ["Endpoint", "endpoints", "environment"]


def endpoints(plan: Plan) -> list[Endpoint]:
    out: list[Endpoint] = []
    for s in planned(plan):
        ep = s.endpoint(context(plan, s.name))
        if ep is not None:
            out.append(ep)
    return out


def environment(plan: Plan, secrets: dict[str, str]) -> dict[str, str]:
    """The variables notebooks and tools read (the same names JupyterLab gets inside the stack)."""
    env: dict[str, str] = {}
    for s in planned(plan):
        ep = s.endpoint(context(plan, s.name))
        if ep is not None:
            env |= s.client_env(ep, secrets)
    return env
