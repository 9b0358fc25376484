"""`devstack up` with Seldon when a node image cannot be had: the k3d preflight passes (real k3d, kubectl, helm),
then the k3s node image named by DEVSTACK_IMAGE_K3S is in no registry (none answers here, and the test bed's
stand-in is built under another tag's name), and `up` stops before anything starts, in one line naming the image
and the variable that swaps it. `status` and `down` then handle a stack whose cluster never came up, and a refused
up leaves no state dir it made. Only seldon is selected: no Compose service, so no host port of the stack is taken.
The cluster running for real: test_seldon_cluster.py.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.seldon_testbed import require_tool


@pytest.mark.engine
def test_up_with_seldon_stops_before_anything_starts_when_the_node_images_cannot_be_had(tmp_path: Path) -> None:
    for tool in ("k3d", "kubectl", "helm"):
        require_tool(tool)
    stack = f"k3d{uuid.uuid4().hex[:6]}"
    # a k3s version nobody has: the test bed's stand-in of v1.33.5 may be in the engine (test_seldon_cluster.py)
    env = {"XDG_STATE_HOME": str(tmp_path), "DEVSTACK_IMAGE_K3S": "rancher/k3s:v1.0.0-devstack-missing"}
    # a stack that did not exist: the refused up leaves no state dir behind (issue 15.4)
    res = run_cli("up", "--services", "seldon", "--budget", "8g", "--stack", f"{stack}-new", env=env)
    assert res.returncode == 3 and "could not pull " in res.stderr, res.stdout + res.stderr
    assert not (tmp_path / "devstack" / f"{stack}-new").exists()
    # a stack rendered before (as by `devstack render`): the up keeps it, and what k3d would have been given
    assert run_cli("render", "--services", "seldon", "--budget", "8g", "--stack", stack, env=env).returncode == 0
    res = run_cli("up", "--services", "seldon", "--budget", "8g", "--stack", stack, env=env)
    assert res.returncode == 3, res.stdout + res.stderr
    (line,) = res.stderr.strip().splitlines()
    assert line.startswith("devstack: could not pull ") and "Fix:" in line, line
    images = ("rancher/k3s:", "registry:2", "ghcr.io/k3d-io/k3d-proxy:", "ghcr.io/k3d-io/k3d-tools:")
    assert any(i in line for i in images), line
    assert any(v in line for v in ("DEVSTACK_IMAGE_K3S", "DEVSTACK_IMAGE_REGISTRY", "K3D_IMAGE_")), line
    assert "Traceback" not in res.stderr
    project = f"devstack-{stack}"
    leftovers = subprocess.run(
        ["docker", "ps", "-a", "--filter", f"name={project}", "--format", "{{.Names}}"], capture_output=True, text=True
    ).stdout.split()
    networks = subprocess.run(
        ["docker", "network", "ls", "--filter", f"name={project}", "--format", "{{.Name}}"],
        capture_output=True,
        text=True,
    ).stdout.split()
    assert leftovers == [] and networks == [], (leftovers, networks)
    # the cluster config was rendered: what k3d would have been given
    assert (tmp_path / "devstack" / stack / "k3d" / "cluster.yaml").exists()

    st = run_cli("status", "--stack", stack, "--json", env=env)
    seldon = next(s for s in json.loads(st.stdout)["services"] if s["name"] == "seldon")
    assert st.returncode == 1 and seldon["state"] == "missing" and not seldon["healthy"], seldon
    assert f"no k3d cluster '{project}'" in seldon["detail"]

    down = run_cli("down", "--stack", stack, env=env)
    assert down.returncode == 0, down.stderr
