"""Shared fixtures. Engine tests carry the `engine` marker: they skip on a laptop without Docker, but on CI
(CI=true) a missing engine is a failure, never a skip."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]


# How long a CLI call may take before a test gives up on it: the product's own deadlines are inside (each
# service's probe, the demo's stages), these only catch a hang. Generous on purpose: on two loaded cores a
# ten-service `up` has taken 2 min and the demo 2.5 min, and a deadline near the typical time tests the machine.
CLI_DEADLINES_S = {"up": 900.0, "demo": 1200.0, "bootstrap": 600.0, "down": 600.0}
CLI_DEADLINE_S = 300.0


def run_cli(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float | None = None
) -> subprocess.CompletedProcess[str]:
    """Run devstack as a user would: a fresh process, its real exit code and streams. A call that outlives its
    deadline fails the test with what it was doing: its last output and, for a stack, which services
    `devstack status` says are not healthy."""
    # the checkout these tests belong to, whatever an editable install elsewhere points at
    full_env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "PYTHONPATH": str(REPO), **(env or {})}
    command = next((a for a in args if not a.startswith("-")), "")
    deadline = timeout if timeout is not None else CLI_DEADLINES_S.get(command, CLI_DEADLINE_S)
    try:
        return subprocess.run(
            [sys.executable, "-m", "devstack", *args],
            cwd=cwd or REPO,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=deadline,
        )
    except subprocess.TimeoutExpired as e:
        pytest.fail(_timeout_report(args, deadline, e, cwd or REPO, full_env), pytrace=False)


def _text(b: bytes | str | None) -> str:
    return b.decode(errors="replace") if isinstance(b, bytes) else (b or "")


def _timeout_report(
    args: tuple[str, ...], deadline: float, e: subprocess.TimeoutExpired, cwd: Path, env: dict[str, str]
) -> str:
    lines = [f"`devstack {' '.join(args)}` did not finish within {deadline:.0f} s (test deadline)."]
    for name, stream in (("stdout", e.stdout), ("stderr", e.stderr)):
        tail = _text(stream).strip().splitlines()[-15:]
        if tail:
            lines += [f"its last {name}:", *("  " + t for t in tail)]
    stack = args[args.index("--stack") + 1] if "--stack" in args[:-1] else None
    if stack is not None:
        lines.append(_not_healthy(stack, cwd, env))
    return "\n".join(lines)


def _not_healthy(stack: str, cwd: Path, env: dict[str, str]) -> str:
    """Which services of the stack were not healthy when the test gave up, as `devstack status` sees them."""
    import json

    try:
        r = subprocess.run(
            [sys.executable, "-m", "devstack", "status", "--stack", stack, "--json"],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        services = json.loads(r.stdout)["services"]
    except (subprocess.TimeoutExpired, ValueError, KeyError) as err:
        return f"`devstack status --stack {stack}` gave no answer either ({type(err).__name__})"
    bad = [f"{s.get('name')}: {s.get('state')}, {s.get('detail', '')}" for s in services if not s.get("healthy")]
    return "not healthy then: " + ("; ".join(bad) if bad else "none (every service was healthy)")


def up_failed(r: subprocess.CompletedProcess[str]) -> str:
    """Why a `devstack up --json` failed, its own words first: each failing service's reason and hint, and what
    every service waited on. The logs the report carries come after, cut short: a raw tail of the output shows
    only the last container's log lines and hides which service failed and why."""
    import json

    try:
        report = json.loads(r.stdout)
    except ValueError:
        return r.stdout[-3000:] + r.stderr[-2000:]
    lines = [f"up failed after {report.get('seconds')} s"]
    for f in report.get("failures", []):
        lines.append(f"{f.get('service')}: {f.get('reason')} (hint: {f.get('hint')})")
    for name, s in report.get("services", {}).items():
        lines.append(f"  {name}: ok={s.get('ok')} {s.get('seconds')} s waited {s.get('waited')}: {s.get('detail')}")
    for f in report.get("failures", []):
        lines += [f"--- {f.get('service')}'s last logs ---", str(f.get("logs", ""))[-2500:]]
    return "\n".join(lines) + "\n" + r.stderr[-2000:]


def _compose_available() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0


def _engine_available() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True).returncode == 0


_AVAILABLE: dict[str, bool] = {}
_CHECKS = {"compose": _compose_available, "engine": _engine_available}


@pytest.fixture(autouse=True)
def _needs_docker(request: pytest.FixtureRequest) -> None:
    """Skip an engine/compose test where Docker is absent, except on CI, where that is a failure."""
    for marker, check in _CHECKS.items():
        if request.node.get_closest_marker(marker) is None:
            continue
        if marker not in _AVAILABLE:
            _AVAILABLE[marker] = check()
        if not _AVAILABLE[marker]:
            if os.environ.get("CI") == "true":
                pytest.fail(f"CI must have Docker {marker}: .ci/run installs it (tests/testbed/install_engine.sh)")
            pytest.skip(f"needs Docker {marker} (tests/testbed/install_engine.sh installs it)")


# The suite runs on two xdist workers (pyproject.toml's addopts: -n 2 --dist loadgroup): an end-to-end module
# spends most of its time waiting on its stack (healthchecks, Airflow's scheduler, Kafka), so a second module at
# once fills the idle core. Two, not one per core: a Mac's ten cores would start ten stacks, and what bounds
# the parallelism is memory and host ports, not cores. What must run on one worker shares a group: each file
# is one (its module fixtures own one stack), and the files whose stacks or containers publish devstack's
# default host ports share one, since two of them at once would collide on those ports.
SAME_WORKER = {
    "default-ports": (
        "tests/e2e/test_up.py",
        "tests/e2e/test_dashboard.py",
        "tests/e2e/test_rendered_stack.py",
        "tests/e2e/test_seldon_up.py",  # Seldon's default ports, the images port among them
        "tests/e2e/test_image_builds.py",  # a registry on the images port (5501)
    ),
}
# The groups handed out first: the longest (measured in a warm run here), so that no long one starts last and
# leaves the other worker idle at the end. Groups not named follow in collection order.
LONGEST_FIRST = (
    "default-ports",
    "tests/e2e/test_pipeline.py",
    "tests/e2e/test_airflow_dags.py",
    "tests/e2e/test_notebooks.py",
    "tests/e2e/test_prometheus.py",
    "tests/e2e/test_bootstrap.py",
    "tests/e2e/test_cluster_metrics.py",
    "tests/e2e/test_seldon_serve.py",
    "tests/e2e/test_mlserver.py",
)
# Handed out last: the module whose stand-ins setup.sh builds in the background (the k3s node, Seldon's
# operator: about 25 minutes cold on two cores), so the rest of the suite runs while they build.
LAST = ("tests/e2e/test_seldon_cluster.py",)
_GROUP_OF_FILE = {f: g for g, files in SAME_WORKER.items() for f in files}


def _group(item: pytest.Item) -> str:
    path = item.nodeid.split("::", 1)[0]
    return _GROUP_OF_FILE.get(path, path)


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the group markers
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {g: i for i, g in enumerate(LONGEST_FIRST)} | {g: 1000 + i for i, g in enumerate(LAST)}
    for item in items:
        item.add_marker(pytest.mark.xdist_group(_group(item)))
    items.sort(key=lambda it: rank.get(_group(it), len(rank)))  # stable: a group's files keep their order


@pytest.fixture
def state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "state"
    monkeypatch.setenv("XDG_STATE_HOME", str(home))
    return home


def kafka_conf(bootstrap: str, env: dict[str, str], stack: str, user: str = "admin") -> dict[str, Any]:
    """A Kafka client's settings as one of a stack's principals (its admin unless named): the brokers ask for SASL
    SCRAM, each principal's password is in the stack's secrets.json."""
    import json

    from devstack.services.kafka import login

    secrets = json.loads((Path(env["XDG_STATE_HOME"]) / "devstack" / stack / "secrets.json").read_text())
    return login(bootstrap, user, secrets).config()
