"""devstack's own images, for real: `devstack k3d images` builds the shipped recipes (k3d/images/*) and pushes them to
the stack's build registry, which here is the test bed's registry image (Docker's distribution v3.0.0 from the Go
module proxy, standing in for registry:2/3) started as `ensure_images_registry` would have k3d start it: named
`k3d-<project>-builds`, 127.0.0.1:<images port> -> 5000, the image's own command. (k3d itself runs the registry
privileged, which this machine refuses: "unable to apply caps".)

This machine is amd64, where Seldon has builds, so `--force` asks for every recipe, as an arm64 host does. The
recipes' official bases (python:3.11-slim, rclone/rclone) cannot be pulled here: the test passes test-only build
args, a Python and an rclone stand-in on the test bed's base, and pip's CA bundle (PyPI is reached through a
TLS-re-signing proxy whose CA the base carries). The pushed MLServer is then pulled back from the registry and run
with Seldon's environment (`seldon.mlserver_env`) on the test model; the storage initializer copies a directory.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devstack.planning import seldon
from devstack.planning.catalog import CATALOG
from devstack.render.state import project_name
from devstack.runtime import image_builds
from tests import testbed_images as testbed
from tests.conftest import run_cli
from tests.e2e.test_mlserver import check_v2, model, wait_model_ready  # noqa: F401  (model: a fixture)
from tests.recipe_standins import CA_BUNDLE, standin
from tests.seldon_testbed import require

pytestmark = pytest.mark.engine

STACK = "dstest-images"
PROJECT = project_name(STACK)
PORT = CATALOG["seldon"].ports[-1].host  # the images port (5501)
REGISTRY = f"k3d-{PROJECT}-builds:{PORT}"


def devstack(*args: str, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    """The first build of MLServer's image downloads its wheels: half an hour before the test gives up."""
    return run_cli(*args, timeout=timeout)


def get_json(url: str, accept: str = "") -> Any:
    req = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


@pytest.fixture(scope="module")
def registry() -> Iterator[str]:
    images = testbed.testbed_images()
    image = images.get("DEVSTACK_IMAGE_REGISTRY")
    require("the test-bed registry image (tests/testbed/build_images.sh registry)", image is not None)
    name = f"k3d-{PROJECT}-builds"
    subprocess.run(["docker", "rm", "-f", "-v", name], capture_output=True)
    subprocess.run(
        ["docker", "run", "-d", "--name", name, "-p", f"127.0.0.1:{PORT}:5000", str(image)],
        check=True,
        capture_output=True,
    )
    base = f"http://127.0.0.1:{PORT}"
    deadline = time.monotonic() + 30
    while True:
        try:
            get_json(f"{base}/v2/")
            break
        except OSError:
            assert time.monotonic() < deadline, "the registry did not answer /v2/ in 30 s"
            time.sleep(0.3)
    try:
        yield base
    finally:
        subprocess.run(["docker", "rm", "-f", "-v", "-v", name], capture_output=True)


def test_registry_down_is_one_line_exit_3() -> None:
    """First in the module, before the registry fixture starts it."""
    name = f"k3d-{PROJECT}-builds"
    if subprocess.run(["docker", "inspect", name], capture_output=True).returncode == 0:
        pytest.skip("the registry is running")
    res = devstack("k3d", "images", "--stack", STACK, "--force", timeout=120)
    assert res.returncode == 3, res.stdout + res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and f"127.0.0.1:{PORT} does not answer" in lines[0], res.stderr
    assert "Fix:" in lines[0]


def test_build_push_pull_and_serve(
    registry: str,
    model: tuple[Path, dict[str, Any]],  # noqa: F811  (the fixture imported above)
    tmp_path: Path,
) -> None:
    images = testbed.testbed_images()
    base = images.get("DEVSTACK_IMAGE_BASE")
    require("the test-bed base image (tests/testbed/build_images.sh base)", base is not None)
    args = [
        "--build-arg",
        f"mlserver:BASE={standin('python', str(base))}",
        "--build-arg",
        f"mlserver:PIP_CERT={CA_BUNDLE}",
        "--build-arg",
        f"storage_initializer:BASE={standin('rclone', str(base))}",
    ]
    t0 = time.monotonic()
    first = devstack("k3d", "images", "--stack", STACK, "--force", *args)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr
    print(f"first run: {time.monotonic() - t0:.0f} s\n{first.stdout[-2500:]}")
    assert "mlserver: pushed" in first.stdout and "storage_initializer: pushed" in first.stdout
    assert "Step " in first.stdout  # progress, step by step

    # the refs the SeldonDeployment and the chart values name on arm64 are in the registry
    spec = CATALOG["seldon"]
    arm = seldon.cluster_images(
        {k: v.ref for k, v in spec.images.items()}, {k: v.platforms for k, v in spec.images.items()}, "arm64", REGISTRY
    )
    assert arm["mlserver"] == f"{REGISTRY}/devstack/mlserver:1.7.1"
    assert arm["storage_initializer"] == f"{REGISTRY}/devstack/rclone-storage-initializer:1.17.1"
    repos = get_json(f"{registry}/v2/_catalog")["repositories"]
    assert {"devstack/mlserver", "devstack/rclone-storage-initializer"} <= set(repos)
    for key in ("mlserver", "storage_initializer"):
        repo, tag = arm[key].split("/", 1)[1].rsplit(":", 1)
        assert tag in get_json(f"{registry}/v2/{repo}/tags/list")["tags"]
        manifest = get_json(f"{registry}/v2/{repo}/manifests/{tag}", image_builds.MANIFEST_TYPES)
        assert manifest["config"]["digest"].startswith("sha256:")
        labels = image_builds.Registry(PORT).labels(repo, tag, "linux/amd64")
        assert labels and len(labels[image_builds.RECIPE_LABEL]) == 16
        size = sum(layer["size"] for layer in manifest["layers"])
        print(f"{arm[key]}: {len(manifest['layers'])} layers, {size / 1e6:.0f} MB compressed")

    # a second run finds both with the same recipe hash: nothing built
    t1 = time.monotonic()
    again = devstack("k3d", "images", "--stack", STACK, "--force", "--json", *args, timeout=120)
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    assert {i["key"]: i["status"] for i in report["images"]} == {
        "mlserver": "already pushed",
        "storage_initializer": "already pushed",
    }
    assert report["listing"]["devstack/mlserver"] == ["1.7.1"]
    assert {i["key"]: i["ref"] for i in report["images"]} == {k: arm[k] for k in ("mlserver", "storage_initializer")}
    print(f"second run: {time.monotonic() - t1:.1f} s")

    # the image as the cluster would get it: pulled from the registry, run with Seldon's environment
    pushed = f"localhost:{PORT}/devstack/mlserver:1.7.1"
    subprocess.run(["docker", "rmi", pushed], capture_output=True)
    pull = subprocess.run(["docker", "pull", pushed], capture_output=True, text=True)
    assert pull.returncode == 0, pull.stderr
    model_dir, expected = model
    env = seldon.mlserver_env(model_dir="/mnt/models")
    name = f"dstest-built-mlserver-{uuid.uuid4().hex[:6]}"
    run = ["docker", "run", "-d", "--name", name, "-p", f"127.0.0.1:18190:{env['MLSERVER_HTTP_PORT']}"]
    run += ["-p", f"127.0.0.1:18192:{env['MLSERVER_METRICS_PORT']}", "-v", f"{model_dir}:/mnt/models:ro"]
    for k, v in env.items():
        run += ["-e", f"{k}={v}"]
    subprocess.run([*run, pushed], check=True, capture_output=True)

    def alive() -> bool:
        state = subprocess.run(["docker", "inspect", "-f", "{{.State.Running}}", name], capture_output=True, text=True)
        return state.stdout.strip() == "true"

    try:
        secs = wait_model_ready("http://127.0.0.1:18190", 180, alive)
        print(f"built MLServer: model ready in {secs:.1f} s")
        check_v2("http://127.0.0.1:18190", "http://127.0.0.1:18192", expected)
        user = subprocess.run(["docker", "exec", name, "id", "-u"], capture_output=True, text=True).stdout.strip()
        assert user == "1000"
    except AssertionError:
        print(subprocess.run(["docker", "logs", "--tail", "40", name], capture_output=True, text=True).stderr)
        raise
    finally:
        subprocess.run(["docker", "rm", "-f", "-v", name], capture_output=True)

    # the storage initializer: `rclone copy <src> <dst>` as Seldon's init container runs it
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    dst.mkdir()
    (src / "MLmodel").write_text("flavors: {}\n")
    init = f"localhost:{PORT}/devstack/rclone-storage-initializer:1.17.1"
    cp = subprocess.run(
        ["docker", "run", "--rm", "-v", f"{src}:/src:ro", "-v", f"{dst}:/mnt/models", init, "/src", "/mnt/models"],
        capture_output=True,
        text=True,
    )
    assert cp.returncode == 0, cp.stderr
    assert (dst / "MLmodel").read_text() == "flavors: {}\n"
