"""Stand-ins for the bases of devstack's own image recipes (k3d/images/*), which cannot be pulled here:
python:3.11-slim and rclone/rclone, each as a Dockerfile on the test bed's base image, built once per content.

The recipes take them as build args (BASE=...), with pip's CA bundle (PIP_CERT): PyPI is reached through a
TLS-re-signing proxy whose CA the base carries. What differs from python:3.11-slim: Debian bookworm's python3
(3.11.2, the same minor) instead of python.org's 3.11 build."""

from __future__ import annotations

import os
import subprocess
import tempfile
import uuid
from pathlib import Path

from tests import testbed_images as testbed
from tests.seldon_testbed import require

CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
STANDINS = {
    # name -> Dockerfile on the test bed's base: what python:3.11-slim and rclone/rclone give the recipes
    "python": "RUN apt-get update && apt-get install -y --no-install-recommends python3 python3-venv libgomp1 "
    "&& rm -rf /var/lib/apt/lists/*\n",
    "rclone": "RUN apt-get update && apt-get install -y --no-install-recommends rclone "
    "&& rm -rf /var/lib/apt/lists/*\n",
}


def testbed_base() -> str:
    base = testbed.testbed_images().get("DEVSTACK_IMAGE_BASE")
    require("the test-bed base image (tests/testbed/build_images.sh base)", base is not None)
    return str(base)


def standin(name: str, base: str | None = None) -> str:
    base = base or testbed_base()
    tag = f"devstack-testbed/{name}-standin:{uuid.uuid5(uuid.NAMESPACE_URL, base + STANDINS[name]).hex[:12]}"
    if subprocess.run(["docker", "image", "inspect", tag], capture_output=True).returncode != 0:
        with tempfile.TemporaryDirectory() as ctx:
            (Path(ctx) / "Dockerfile").write_text(f"FROM {base}\n{STANDINS[name]}")
            subprocess.run(
                ["docker", "build", "-q", "-t", tag, ctx],
                check=True,
                capture_output=True,
                env={**os.environ, "DOCKER_BUILDKIT": "0"},
                timeout=600,
            )
    return tag


def mlserver_build_args() -> list[str]:
    """`--build-arg` options that build devstack's MLServer recipe here."""
    return ["--build-arg", f"BASE={standin('python')}", "--build-arg", f"PIP_CERT={CA_BUNDLE}"]
