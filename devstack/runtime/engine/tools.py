"""One way to run k3d, kubectl and helm: plumbum, with the command logged copy-pasteable at debug level,
stderr turned into typed errors, and the environment never logged (it can hold secrets)."""

from __future__ import annotations

import logging
import shlex
from dataclasses import dataclass

from devstack.core.errors import EnvironmentProblem

log = logging.getLogger("devstack.tools")

# the oldest release of each tool devstack's k3d cluster works with: `up` refuses older ones, doctor flags them
MIN_VERSIONS: dict[str, tuple[int, int, int]] = {
    "k3d": (5, 7, 0),  # k3d.io/v1alpha5 configs, registries.create.proxy
    "kubectl": (1, 28, 0),  # kubectl wait --for=jsonpath
    "helm": (3, 8, 0),  # OCI and --repo installs; Seldon's chart needs Helm 3
}


def min_version(tool: str) -> str:
    return ".".join(map(str, MIN_VERSIONS[tool]))


INSTALL_HINT = {
    "k3d": f"install k3d v{min_version('k3d')}+ (brew install k3d, or see k3d.io).",
    "kubectl": "install kubectl (brew install kubectl, or Docker Desktop's bundled one).",
    "helm": "install Helm 3 (brew install helm).",
}


class ToolMissing(EnvironmentProblem):
    pass


class ToolFailed(EnvironmentProblem):
    pass


@dataclass(frozen=True)
class ToolResult:
    argv: list[str]
    stdout: str
    stderr: str


def run_tool(name: str, *args: str, timeout: float = 60, check: bool = True) -> ToolResult:
    from plumbum import CommandNotFound, ProcessExecutionError, ProcessTimedOut, local

    try:
        cmd = local[name]
    except CommandNotFound:
        raise ToolMissing(
            f"{name} is not installed (not on PATH).", INSTALL_HINT.get(name, f"install {name}.")
        ) from None
    argv = [name, *args]
    log.debug("$ %s", shlex.join(argv))
    try:
        rc, out, err = cmd[list(args)].run(timeout=timeout, retcode=None)
    except ProcessTimedOut:
        raise ToolFailed(
            f"`{shlex.join(argv)}` did not finish within {timeout:.0f}s.", "run it by hand to see why."
        ) from None
    except ProcessExecutionError as e:  # pragma: no cover - retcode=None makes plumbum return instead
        rc, out, err = int(e.retcode or 1), str(e.stdout), str(e.stderr)
    if check and rc != 0:
        last = (err or out).strip().splitlines()[-1:] or ["(no output)"]
        raise ToolFailed(
            f"`{shlex.join(argv)}` failed ({rc}): {last[0]}", f"run `{shlex.join(argv)}` to see the whole error."
        )
    return ToolResult(argv, out, err)
