"""MinIO's users and their bucket policies (services/minio.py `clients`), made with the `mc` that MinIO's image
ships, inside the stack's MinIO container, as its root user.

Why `mc` in the container and not the S3 API: users and policies are MinIO's admin API, whose requests carry the
secret encrypted with the root password (madmin's format), which no S3 library speaks; `mc` is MinIO's own client
for it and is in the official image. The root password goes in the exec's environment (`MC_HOST_<alias>`), never
on a command line. A user is added when missing, its policy created or brought up to date, and attached when it is
not; nothing is ever removed, so a user or policy made by hand stays.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping, Sequence

from devstack.core.errors import EnvironmentProblem
from devstack.lifecycle.bootstrap.report import CREATED, OK, UPDATED, Change
from devstack.runtime.engine.docker import DockerFailed, exec_output
from devstack.services.minio import NAME as MINIO
from devstack.services.minio import USER, Client, policy, policy_name

ALIAS = "devstack"


def _as_root(root_password: str) -> dict[str, str]:
    """mc's alias for the MinIO in the container, signed in as root, through the environment (no config file)."""
    return {f"MC_HOST_{ALIAS}": f"http://{USER}:{root_password}@127.0.0.1:9000"}


def _mc(container: str, root_password: str, *args: str) -> list[dict[str, object]]:
    """`mc --json ARGS` in the container, as the root user: its JSON lines."""
    try:
        out = exec_output(container, ["mc", "--json", *args], envs=_as_root(root_password))
    except DockerFailed as e:
        said = e.last_line
        with contextlib.suppress(ValueError, AttributeError):  # mc's --json error: {"error": {"message": ...}}
            said = json.loads(said).get("error", {}).get("message", said)
        raise EnvironmentProblem(
            f"MinIO refused `mc {' '.join(args[:3])}`: {said}", "run `devstack status` and `devstack logs minio`."
        ) from None
    return [json.loads(line) for line in out.splitlines() if line.strip().startswith("{")]


def apply(container: str, clients: Sequence[Client], passwords: Mapping[str, str], root_password: str) -> list[Change]:
    """Every client's user, policy and attachment, made where missing. `passwords`: client -> its password."""
    users = {
        str(u.get("accessKey")): str(u.get("policyName") or "")
        for u in _mc(container, root_password, "admin", "user", "list", ALIAS)
    }
    policies = {str(p.get("policy")) for p in _mc(container, root_password, "admin", "policy", "list", ALIAS)}
    out = []
    for c in clients:
        name, doc = policy_name(c.name), json.dumps(policy(c), sort_keys=True)
        action = OK
        if name not in policies or _canonical(_policy(container, root_password, name)) != _canonical(policy(c)):
            _write_policy(container, root_password, name, doc)
            action = CREATED if name not in policies else UPDATED
        if c.name not in users:
            # `--`: a random password may begin with "-", which mc would take for a flag (CI met one)
            _mc(container, root_password, "admin", "user", "add", "--", ALIAS, c.name, passwords[c.name])
            action = CREATED
        if name not in users.get(c.name, "").split(","):
            _mc(container, root_password, "admin", "policy", "attach", ALIAS, name, "--user", c.name)
            action = action if action == CREATED else UPDATED
        reads = ", ".join(f"read {b}" for b in c.reads)
        writes = ", ".join(f"read-write {b}" for b in c.writes)
        out.append(
            Change(MINIO, f"user {c.name}", action, f"policy {name}: " + ", ".join(x for x in (reads, writes) if x))
        )
    return out


def _canonical(doc: object) -> frozenset[tuple[str, frozenset[str], frozenset[str]]]:
    """A policy's statements as MinIO keeps them, whatever order it lists actions and resources in."""
    statements = doc.get("Statement", []) if isinstance(doc, dict) else []

    def names(v: object) -> frozenset[str]:
        return frozenset([v] if isinstance(v, str) else [str(x) for x in v] if isinstance(v, list) else [])

    return frozenset((str(st.get("Effect")), names(st.get("Action")), names(st.get("Resource"))) for st in statements)


def _policy(container: str, root_password: str, name: str) -> object:
    for line in _mc(container, root_password, "admin", "policy", "info", ALIAS, name):
        info = line.get("policyInfo")
        if isinstance(info, dict):
            return info.get("Policy")
    return None


def _write_policy(container: str, root_password: str, name: str, doc: str) -> None:
    """`mc admin policy create` reads a file: the document goes through the exec's environment to one in /tmp."""
    env = _as_root(root_password) | {"DEVSTACK_POLICY": doc}
    script = (
        f'f=$(mktemp) && printf %s "$DEVSTACK_POLICY" > "$f" && mc --json admin policy create {ALIAS} {name} "$f"; '
        'rc=$?; rm -f "$f"; exit $rc'
    )
    try:
        exec_output(container, ["sh", "-c", script], envs=env)
    except DockerFailed as e:
        raise EnvironmentProblem(f"MinIO refused policy {name}: {e.last_line}", "run `devstack logs minio`.") from None
