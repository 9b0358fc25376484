"""Where the test bed (tests/testbed/tools.sh, images/mlserver/venv.sh) put the real k3d, kubectl, helm, Seldon's
CRD and MLServer, for the Seldon/k3d tests. A missing piece skips a test on a laptop and fails it on CI
(CI=true), where setup.sh must have installed it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CACHE = Path(os.environ.get("DEVSTACK_TESTBED_CACHE") or Path.home() / ".cache" / "devstack-testbed")
CRD_DIR = CACHE / "seldon-crd"
SELDON_CRD = CRD_DIR / "machinelearning.seldon.io_seldondeployments.yaml"
MLSERVER_VENV = CACHE / "mlserver-venv"
MLSERVER_DIR = Path(__file__).resolve().parent / "testbed" / "images" / "mlserver"


def require(what: str, ok: bool) -> None:
    """Skip where the test bed is not set up, except on CI, where that is a failure."""
    if ok:
        return
    msg = f"{what} is missing: run tests/testbed/setup.sh (tools.sh, images/mlserver/venv.sh)"
    if os.environ.get("CI") == "true":
        pytest.fail(msg)
    pytest.skip(msg)


def require_tool(name: str) -> str:
    path = shutil.which(name)
    require(f"the {name} binary", path is not None)
    assert path is not None
    return path
