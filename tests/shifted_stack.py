"""A test stack whose every published port is moved by a fixed shift, through a devstack.yaml as a user would
write one, so each end-to-end module runs its own stack without needing another one's ports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests import testbed_images as testbed


def shifted_env(
    state: Path, services: str, shift: int, images: list[str], extra: dict[str, dict[str, Any]] | None = None
) -> dict[str, str]:
    """The CLI's environment for such a stack: the test images, XDG_STATE_HOME at `state`, the devstack.yaml there
    (`extra` adds settings per service, e.g. replicas). Fails the test when a test image is missing."""
    from devstack.planning.catalog import CATALOG

    have = testbed.testbed_images()
    missing = [n for n in images if f"DEVSTACK_IMAGE_{n}" not in have]
    if missing:
        pytest.fail(f"test images missing ({', '.join(missing)}): run bash tests/testbed/setup.sh")
    settings: dict[str, dict[str, Any]] = {
        n: {"ports": {p.name: p.host + shift for p in CATALOG[n].ports}} for n in services.split(",")
    }
    for name, more in (extra or {}).items():
        settings[name] |= more
    (state / "devstack.yaml").write_text(json.dumps({"services": settings}))
    return {**have, "XDG_STATE_HOME": str(state)}


def configure(env: dict[str, str], **top: Any) -> None:
    """Set top-level keys of such a stack's devstack.yaml (bind, alerts, add-ons), as a user would edit it."""
    path = Path(config_path(env))
    path.write_text(json.dumps({**json.loads(path.read_text()), **top}))


def config_path(env: dict[str, str]) -> str:
    return str(Path(env["XDG_STATE_HOME"]) / "devstack.yaml")
