"""Where each service answers from the host, and with which credentials. Pure: plan + secrets in.

`up` prints these, `status` and the probes use them, and `devstack env` exports them, so notebooks on the host
and inside JupyterLab read the same variable names (inside, the Compose names replace 127.0.0.1). Each service's
module says its own (`endpoint`, `client_env`); this module only walks the plan."""

from __future__ import annotations

from dataclasses import replace

from devstack.planning.context import context, planned
from devstack.planning.plan import Plan
from devstack.services.base import TLS, Endpoint
from devstack.services.tls import client_env

__all__ = ["Endpoint", "endpoints", "environment"]


def endpoints(plan: Plan, via_tls: bool = False) -> list[Endpoint]:
    """Each service's endpoint; `via_tls`: the TLS twins' addresses where a port has one (the TLS proxy planned)."""
    out: list[Endpoint] = []
    for s in planned(plan):
        ep = s.endpoint(context(plan, s.name, via_tls=via_tls))
        if ep is not None:
            out.append(ep)
    return out


def environment(plan: Plan, secrets: dict[str, str], ca: str = "") -> dict[str, str]:
    """The variables notebooks and tools read (the same names JupyterLab gets inside the stack). `ca`: the stack's
    CA file, given when the plan has the TLS proxy and the client wants TLS (`devstack env`): then each address
    with a TLS twin is the twin's, with the CA where each client reads it. devstack's own clients dial the plain
    ports (no `ca`)."""
    via_tls = bool(ca) and TLS in plan.names()
    env: dict[str, str] = {}
    for s in planned(plan):
        ep = s.endpoint(context(plan, s.name, via_tls=via_tls))
        if ep is not None:
            plain = s.endpoint(context(plan, s.name)) if via_tls else ep
            over_tls = plain is not None and ep.url != plain.url
            env |= s.client_env(replace(ep, ca=ca) if over_tls else ep, secrets)
    if via_tls:
        env |= client_env(ca)
    return env
