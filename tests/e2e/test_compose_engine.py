"""devstack's Compose engine against the real Compose v2, on a project of its own (seconds, no stack needed)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from devstack.runtime.engine.compose import ComposeEngine
from tests.testbed_images import testbed_images

pytestmark = pytest.mark.engine
PROJECT = "devstack-e2e-engine"


def _containers() -> list[str]:
    r = subprocess.run(
        ["docker", "ps", "-a", "--filter", f"label=com.docker.compose.project={PROJECT}", "--format", "{{.Names}}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return sorted(r.stdout.split())


def test_down_removes_the_containers_of_every_profile(tmp_path: Path) -> None:
    """As a stack after `devstack demo`: .env's COMPOSE_PROFILES names the exporters' profile, the demo's container
    runs under a profile it does not name. Compose's own down left that one and its network; devstack's takes all."""
    image = testbed_images().get("DEVSTACK_IMAGE_REDIS")
    if image is None:
        pytest.fail("test images missing (REDIS): run bash tests/testbed/setup.sh")
    service = "    image: {image}\n    entrypoint: []\n    command: [sleep, '600']\n    stop_grace_period: 1s\n"
    (tmp_path / "compose.yaml").write_text(
        f"name: {PROJECT}\nservices:\n"
        + "  kept:\n" + service.format(image=image)
        + "  exporter:\n    profiles: [exporter]\n" + service.format(image=image)
        + "  demo:\n    profiles: [demo]\n" + service.format(image=image)
    )  # fmt: skip
    (tmp_path / ".env").write_text("COMPOSE_PROFILES=exporter\n")
    try:
        ComposeEngine(tmp_path, PROJECT).start(["kept", "exporter"])
        ComposeEngine(tmp_path, PROJECT, profiles=("demo",)).start(["demo"])
        assert _containers() == [f"{PROJECT}-{s}-1" for s in ("demo", "exporter", "kept")]
        ComposeEngine(tmp_path, PROJECT).down(volumes=True)
        assert _containers() == []
        networks = subprocess.run(
            ["docker", "network", "ls", "--filter", f"name={PROJECT}", "--format", "{{.Name}}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        assert networks == []
    finally:
        subprocess.run(["docker", "compose", "-p", PROJECT, "--project-directory", str(tmp_path), "--profile", "*",
                        "down", "-t", "1"], capture_output=True)  # fmt: skip
