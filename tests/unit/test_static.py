"""Static checks run by the same test command as everything else, so CI cannot skip them."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests.conftest import REPO


@pytest.mark.parametrize(
    "argv",
    [["ruff", "check", "."], ["ruff", "format", "--check", "."], [sys.executable, "-m", "mypy"]],
    ids=["ruff-check", "ruff-format", "mypy-core"],
)
def test_static(argv: list[str]) -> None:
    if argv[0] == "ruff" and shutil.which("ruff") is None:
        argv = [sys.executable, "-m", *argv]
    r = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
