"""MinIO's users as bootstrap makes them (`minio_access.apply`), against the MinIO test image with its `mc`: every
user made once and left alone on a second run, passwords that begin with "-" included (a random one can: CI met
one, and mc took it for a flag)."""

from __future__ import annotations

import subprocess
import time
import uuid

import pytest

from devstack import pipeline
from devstack.lifecycle.bootstrap import minio_access
from devstack.services.minio import USER, clients
from tests.testbed_images import testbed_images

pytestmark = pytest.mark.engine


def test_users_with_dash_leading_passwords_are_made_once() -> None:
    image = testbed_images().get("DEVSTACK_IMAGE_MINIO")
    if image is None:
        pytest.fail("test image missing (MINIO): run bash tests/testbed/setup.sh")
    name, root = f"dstest-mc-{uuid.uuid4().hex[:6]}", "-root-" + uuid.uuid4().hex
    env = ["-e", f"MINIO_ROOT_USER={USER}", "-e", f"MINIO_ROOT_PASSWORD={root}"]
    subprocess.run(
        ["docker", "run", "-d", "--name", name, *env, image, "server", "/data"], check=True, capture_output=True
    )
    try:
        deadline = time.monotonic() + 60
        while (
            subprocess.run(
                ["docker", "exec", name, "curl", "-fs", "http://127.0.0.1:9000/minio/health/ready"], capture_output=True
            ).returncode
            != 0
        ):
            assert time.monotonic() < deadline, "MinIO did not get ready within 60 s"
            time.sleep(1)
        cl = clients(pipeline.BUCKET_ROLES)
        passwords = {c.name: f"-{uuid.uuid4().hex}" for c in cl}
        first = minio_access.apply(name, cl, passwords, root)
        assert [(c.item, c.action) for c in first] == [(f"user {c.name}", "created") for c in cl]
        second = minio_access.apply(name, cl, passwords, root)
        assert [c.action for c in second] == ["ok"] * len(cl)
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)
