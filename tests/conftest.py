"""Shared fixtures. Engine tests carry the `engine` marker: they skip on a laptop without Docker, but on CI
(CI=true) a missing engine is a failure, never a skip."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run devstack as a user would: a fresh process, its real exit code and streams."""
    # the checkout these tests belong to, whatever an editable install elsewhere points at
    full_env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "devstack", *args],
        cwd=cwd or REPO,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
    )


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


@pytest.fixture
def state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "state"
    monkeypatch.setenv("XDG_STATE_HOME", str(home))
    return home
