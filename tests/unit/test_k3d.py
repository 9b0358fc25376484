"""devstack's k3d lifecycle against the real k3d, kubectl and helm (built from the Go module proxy by
tests/testbed/tools.sh). The k3s node image cannot be pulled on these machines, so no cluster starts here:
what runs is everything before that, for real.

- k3d's own schema check (`k3d config migrate`; k3d v5.9 has no `cluster create --dry-run`) on the rendered
  config, and its refusal of a broken one;
- "exists with another config": a container carrying k3d's labels is a cluster to the real k3d (`k3d cluster
  list` reports it), so devstack's ownership check, `k3d status` and `down` run against real k3d output;
- missing and too-old tools (a PATH without them; a stand-in printing an old version, for the version check);
- kubectl reading devstack's manifests up to the point where it needs an API server.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from devstack.core.errors import EnvironmentProblem
from devstack.lifecycle import serving
from devstack.planning import seldon
from devstack.planning.catalog import SERVICE_NAMES
from devstack.planning.plan import PlanRequest, make_plan
from devstack.render.project import render
from devstack.runtime import k3d
from devstack.runtime.engine.tools import ToolFailed
from devstack.services.seldon import cluster_config
from tests.conftest import run_cli
from tests.seldon_testbed import require_tool


def ml_plan(budget: int = 20 * 1024):  # type: ignore[no-untyped-def]
    return make_plan(PlanRequest("ml", SERVICE_NAMES, budget_mib=budget))


@pytest.fixture
def tools_on_path() -> None:
    for t in ("k3d", "kubectl", "helm"):
        require_tool(t)


def fake_tool(bindir: Path, name: str, output: str) -> None:
    bindir.mkdir(parents=True, exist_ok=True)
    p = bindir / name
    p.write_text(f"#!/bin/sh\necho '{output}'\n")
    p.chmod(0o755)


# ---------------------------------------------------------------- the config, checked by the real k3d


def test_k3d_accepts_the_rendered_config(tools_on_path: None, tmp_path: Path) -> None:
    plan = ml_plan()
    render(plan, tmp_path / "s", "devstack-t")
    config = tmp_path / "s" / k3d.CONFIG
    out = tmp_path / "as-k3d-reads-it.yaml"  # k3d logs to stdout too: its reading goes to a file
    res = subprocess.run(
        ["k3d", "config", "migrate", str(config), str(out)], capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 0, res.stdout + res.stderr
    seen = yaml.safe_load(out.read_text())  # k3d's own reading of it, after its schema check
    s = plan.service("seldon")
    assert (seen["servers"], seen["agents"]) == (1, 2)
    assert seen["options"]["runtime"] == {
        "serversMemory": s.knobs["serversMemory"],
        "agentsMemory": s.knobs["agentsMemory"],
        "HostPidMode": False,
    }
    total = sum(int(v.removesuffix("m")) for v in (s.knobs["serversMemory"], s.knobs["agentsMemory"])) + int(
        s.knobs["agentsMemory"].removesuffix("m")
    )
    assert total <= s.limit_mib  # 1 server + 2 agents inside the plan's share
    assert seen["network"] == "devstack-t_store"
    assert seen["registries"]["create"]["proxy"]["remoteURL"] == "https://registry-1.docker.io"
    assert seen["registries"]["use"] == [f"k3d-devstack-t-builds:{s.ports['images'][0]}"]
    mirrors = yaml.safe_load(seen["registries"]["config"])["mirrors"]
    assert mirrors["docker.io"]["endpoint"] == ["http://devstack-t-registry:5000"]
    rendered = yaml.safe_load(config.read_text())["options"]["kubeconfig"]  # k3d omits false values when printing
    assert rendered == {"updateDefaultKubeconfig": False, "switchCurrentContext": False}
    assert seen["image"] == s.images["k3s"]


@pytest.mark.parametrize(
    ("edit", "error"),
    [
        (lambda d: d.__setitem__("agent", 2), "Additional property agent is not allowed"),
        (lambda d: d.__setitem__("agents", "two"), "agents: Invalid type"),
        (lambda d: d["registries"]["create"].__setitem__("proxy", {"remoteUrl": "x"}), "remoteUrl"),
    ],
)
def test_k3d_refuses_a_broken_config(tools_on_path: None, tmp_path: Path, edit, error: str) -> None:  # type: ignore[no-untyped-def]
    doc = yaml.safe_load(cluster_config(ml_plan().service("seldon"), "devstack-t"))
    edit(doc)
    bad = tmp_path / "cluster.yaml"
    bad.write_text(yaml.safe_dump(doc))
    res = subprocess.run(
        ["k3d", "config", "migrate", str(bad), str(tmp_path / "out.yaml")], capture_output=True, text=True, timeout=60
    )
    said = res.stdout + res.stderr
    assert res.returncode != 0 and "Schema Validation failed" in said and error in said, said
    assert not (tmp_path / "out.yaml").exists()


def test_the_config_hash_follows_the_plan() -> None:
    a = k3d.config_hash(cluster_config(ml_plan(20 * 1024).service("seldon"), "devstack"))
    assert a == k3d.config_hash(cluster_config(ml_plan(20 * 1024).service("seldon"), "devstack"))
    assert a != k3d.config_hash(cluster_config(ml_plan(16 * 1024).service("seldon"), "devstack"))
    assert k3d.create_argv("devstack", Path("c.yaml"), a)[-1] == f"{k3d.HASH_LABEL}={a}@server:0"


# ---------------------------------------------------------------- tools: missing, too old


def check_tools_with_path(path: str, *extra: str) -> subprocess.CompletedProcess[str]:
    """`check_tools` in a fresh process with this PATH (plumbum reads PATH once, when first imported)."""
    code = (
        "import sys\n"
        "from devstack.runtime import k3d\n"
        "from devstack.core.errors import DevstackError\n"
        "try:\n"
        "    print(k3d.check_tools())\n"
        "except DevstackError as e:\n"
        "    print(type(e).__name__, e.exit_code, e.one_line())\n"
        "    sys.exit(e.exit_code)\n"
    )
    env = {**os.environ, "PATH": ":".join([*extra, path]), "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)


def test_missing_tools_are_one_line_environment_errors(tmp_path: Path) -> None:
    res = check_tools_with_path(str(tmp_path))  # nothing on it
    assert res.returncode == 3 and res.stdout.startswith("ToolMissing 3 k3d is not installed"), res.stdout


def test_cli_without_k3d_exits_3_with_one_line(tmp_path: Path) -> None:
    py_dir = str(Path(sys.executable).parent)  # the interpreter only: no k3d beside it
    res = run_cli("k3d", "status", "--stack", "nok3d", env={"PATH": py_dir, "HOME": str(tmp_path)})
    assert res.returncode == 3, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "k3d is not installed" in lines[0] and "Fix:" in lines[0], res.stderr
    assert "Traceback" not in res.stderr


@pytest.mark.parametrize(
    ("tool", "output", "message"),
    [
        ("k3d", "k3d version v5.4.9", "k3d 5.4.9 is too old: devstack needs k3d 5.7.0+"),
        ("helm", "v2.17.0+ga690bad", "helm 2.17.0 is too old: devstack needs helm 3.8.0+"),
        ("kubectl", "Client Version: v1.21.14", "kubectl 1.21.14 is too old: devstack needs kubectl 1.28.0+"),
    ],
)
def test_too_old_tools_are_refused(tools_on_path: None, tmp_path: Path, tool: str, output: str, message: str) -> None:
    fake_tool(tmp_path / "bin", tool, output)  # a stand-in for the version check only; the others are real
    res = check_tools_with_path(os.environ["PATH"], str(tmp_path / "bin"))
    assert res.returncode == 3 and res.stdout.startswith("ToolTooOld 3 " + message), res.stdout


def test_a_tool_that_prints_no_version_is_named(tools_on_path: None, tmp_path: Path) -> None:
    fake_tool(tmp_path / "bin", "helm", "hello")
    res = check_tools_with_path(os.environ["PATH"], str(tmp_path / "bin"))
    assert res.returncode == 3 and "`helm version --short` printed no version" in res.stdout, res.stdout


def test_up_refuses_an_old_k3d_before_anything_starts(tools_on_path: None, tmp_path: Path) -> None:
    """`devstack up`'s k3d preflight (the function `up` calls before Compose starts) refuses the same way."""
    fake_tool(tmp_path / "bin", "k3d", "k3d version v5.6.0")
    code = (
        "import sys, types\n"
        "from devstack.runtime import k3d\n"
        "from devstack.planning.catalog import SERVICE_NAMES\n"
        "from devstack.planning.plan import PlanRequest, make_plan\n"
        "plan = make_plan(PlanRequest('ml', SERVICE_NAMES, budget_mib=20 * 1024))\n"
        "facts = types.SimpleNamespace(engine=types.SimpleNamespace(mem_mib=64 * 1024), arch='arm64')\n"
        "try:\n"
        "    k3d.ClusterJob.for_plan(plan, sys.argv[1], 'devstack-t', facts)\n"
        "except k3d.ToolTooOld as e:\n"
        "    print(e.one_line()); sys.exit(e.exit_code)\n"
    )
    env = {
        **os.environ,
        "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}",
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    res = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, env=env)
    assert res.returncode == 3 and "k3d 5.6.0 is too old" in res.stdout, res.stdout + res.stderr


def test_the_engine_must_hold_compose_and_the_cluster(tools_on_path: None, tmp_path: Path) -> None:
    plan = ml_plan()
    facts = SimpleNamespace(engine=SimpleNamespace(mem_mib=plan.service("seldon").limit_mib), arch="amd64")
    with pytest.raises(EnvironmentProblem) as e:
        k3d.ClusterJob.for_plan(plan, tmp_path, f"dst{uuid.uuid4().hex[:8]}", facts)
    assert "for the k3d cluster; the engine can give" in e.value.one_line() and e.value.exit_code == 3


def test_a_taken_cluster_port_is_refused_before_anything_starts(tools_on_path: None, tmp_path: Path) -> None:
    import dataclasses
    import socket

    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        plan = ml_plan()
        seldon_plan = dataclasses.replace(plan.service("seldon"), ports={**plan.service("seldon").ports, "api": [port]})
        plan = dataclasses.replace(
            plan, services=tuple(seldon_plan if s.name == "seldon" else s for s in plan.services)
        )
        facts = SimpleNamespace(engine=SimpleNamespace(mem_mib=None), arch="amd64")
        with pytest.raises(EnvironmentProblem) as e:
            k3d.ClusterJob.for_plan(plan, tmp_path, f"dst{uuid.uuid4().hex[:8]}", facts)
    line = e.value.one_line()
    assert f"seldon.api needs port {port} for the k3d cluster" in line and "services.seldon.ports.api" in line


def test_real_tool_versions(tools_on_path: None) -> None:
    found = k3d.check_tools()
    assert set(found) == {"k3d", "kubectl", "helm"}
    assert all(v.count(".") == 2 for v in found.values())


# ---------------------------------------------------------------- an existing cluster, seen by the real k3d


@pytest.fixture
def fake_cluster() -> Iterator[tuple[str, list[str]]]:
    """A container carrying k3d's labels: the real `k3d cluster list` reports it as a one-server cluster (the
    k3s image cannot be pulled here). Yields the cluster name and a list the test fills with its labels."""
    require_tool("docker")
    name = f"dst{uuid.uuid4().hex[:8]}"
    made: list[str] = []
    yield name, made
    for c in made:
        subprocess.run(["docker", "rm", "-f", "-v", c], capture_output=True)


def start_fake(name: str, made: list[str], labels: dict[str, str]) -> None:
    image = subprocess.run(
        ["docker", "images", "devstack-testbed/base", "--format", "{{.Repository}}:{{.Tag}}"],
        capture_output=True,
        text=True,
    ).stdout.split()
    assert image, "the test-bed base image (tests/testbed/build_images.sh) is needed"
    args = ["docker", "run", "-d", "--name", f"k3d-{name}-server-0"]
    for k, v in {"app": "k3d", "k3d.cluster": name, "k3d.role": "server", **labels}.items():
        args += ["--label", f"{k}={v}"]
    subprocess.run([*args, image[0], "sleep", "600"], check=True, capture_output=True)
    made.append(f"k3d-{name}-server-0")


@pytest.mark.engine
def test_a_cluster_with_another_config_is_refused(tools_on_path: None, fake_cluster) -> None:  # type: ignore[no-untyped-def]
    name, made = fake_cluster
    start_fake(name, made, {k3d.HASH_LABEL: "0123456789abcdef"})
    assert k3d.check_existing(name, "0123456789abcdef") is not None  # ours and unchanged: kept
    with pytest.raises(k3d.ClusterConfigMismatch) as e:
        k3d.check_existing(name, "fedcba9876543210")
    line = e.value.one_line()
    assert f"k3d cluster '{name}' exists with another config" in line
    assert "devstack down" in line and f"k3d cluster delete {name}" in line and e.value.exit_code == 3


@pytest.mark.engine
def test_a_cluster_devstack_did_not_create_is_refused_and_left_alone(tools_on_path: None, fake_cluster) -> None:  # type: ignore[no-untyped-def]
    name, made = fake_cluster
    start_fake(name, made, {})
    with pytest.raises(k3d.ClusterConfigMismatch) as e:
        k3d.check_existing(name, "0123456789abcdef")
    assert "was not created by devstack" in e.value.one_line()
    assert "left alone" in k3d.down(name)
    assert k3d.find_cluster(name) is not None


@pytest.mark.engine
def test_down_deletes_devstacks_cluster_even_from_an_older_plan(tools_on_path: None, fake_cluster) -> None:  # type: ignore[no-untyped-def]
    name, made = fake_cluster
    start_fake(name, made, {k3d.HASH_LABEL: "an-older-plan"})
    assert k3d.down(name) == f"deleted k3d cluster '{name}'"
    assert k3d.find_cluster(name) is None


@pytest.mark.engine
def test_k3d_status_reports_the_real_k3d_listing(tools_on_path: None, fake_cluster, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    name, made = fake_cluster
    start_fake(name, made, {k3d.HASH_LABEL: "whatever"})
    st = k3d.status(tmp_path, name)
    assert st.cluster is not None and (st.cluster.servers, st.cluster.servers_running) == (1, 1)
    assert st.cluster.agents == 0 and not st.ours  # no rendered config in tmp_path: not this stack's
    assert "servers 1/1, agents 0/0" in st.detail and "not created from this stack's config" in st.detail
    assert k3d.status(tmp_path, name + "x").cluster is None


# ---------------------------------------------------------------- kubectl and k3d errors, as one line


def test_kubectl_reads_devstacks_manifests_and_needs_a_server_to_apply(tools_on_path: None, tmp_path: Path) -> None:
    manifests = seldon.to_yaml(
        seldon.model_manifests(
            seldon.ModelRef("iris"),
            1,
            model_uri="s3://mlflow-artifacts/1/m/artifacts",
            memory_mib=2048,
            server_image="seldonio/mlserver:1.7.1",
            initializer_image="seldonio/rclone-storage-initializer:1.17.1",
            minio_access_key="devstack",
            minio_secret_key="pw",
            minio_endpoint="http://minio:9000",
        )
    )
    (tmp_path / "k3d").mkdir()
    (tmp_path / k3d.KUBECONFIG).write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    with pytest.raises(ToolFailed) as e:
        serving.apply_manifests(tmp_path, "iris-v1", manifests)
    line = e.value.one_line()
    assert "127.0.0.1:1" in line and "connection refused" in line and "\n" not in line
    assert oct((tmp_path / "k3d/models/iris-v1.yaml").stat().st_mode & 0o777) == "0o600"  # holds MinIO's password
    # a manifest kubectl cannot read fails before any connection: so the one above was read
    (tmp_path / "k3d/models/broken.yaml").write_text("kind: [unclosed\n")
    bad = subprocess.run(
        [
            "kubectl",
            "--kubeconfig",
            str(tmp_path / k3d.KUBECONFIG),
            "apply",
            "-f",
            str(tmp_path / "k3d/models/broken.yaml"),
        ],
        capture_output=True,
        text=True,
    )
    assert bad.returncode != 0 and "127.0.0.1:1" not in bad.stderr, bad.stderr


def test_helm_takes_devstacks_seldon_install_command_up_to_the_cluster(tools_on_path: None, tmp_path: Path) -> None:
    """The exact `helm upgrade --install` devstack runs: the real helm accepts every flag, then stops at the
    cluster (none here), before fetching Seldon's chart (unreachable here too). An unknown flag fails earlier."""
    values = tmp_path / "k3d" / "seldon-values.yaml"
    values.parent.mkdir()
    values.write_text(
        yaml.safe_dump(
            seldon.operator_values(
                operator_image="seldonio/seldon-core-operator:1.17.1",
                executor_image="seldonio/seldon-core-executor:1.17.1",
                initializer_image="seldonio/rclone-storage-initializer:1.17.1",
                mlserver_image="seldonio/mlserver:1.7.1",
            )
        )
    )
    (tmp_path / k3d.KUBECONFIG).write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    with pytest.raises(ToolFailed) as e:
        k3d.install_seldon(tmp_path, values, timeout_s=30)
    line = e.value.one_line()
    assert "Kubernetes cluster unreachable" in line and "127.0.0.1:1" in line and "\n" not in line, line
    bogus = subprocess.run(
        ["helm", *k3d.helm_install_argv(tmp_path, values), "--bogus"], capture_output=True, text=True
    )
    assert "unknown flag: --bogus" in bogus.stderr  # the control: a malformed command fails at parsing


def dead_kubeconfig(directory: Path) -> None:
    """A kubeconfig whose API server is a closed port: kubectl gets as far as connecting."""
    (directory / "k3d").mkdir(exist_ok=True)
    (directory / k3d.KUBECONFIG).write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )


@pytest.mark.parametrize(
    "call",
    [
        lambda d: k3d.wait_nodes_ready(d, timeout_s=5),
        lambda d: serving.wait_available(d, "iris-v1", seldon.NAMESPACE, timeout_s=5),
        lambda d: serving.deployed(d, "iris", seldon.NAMESPACE),
        lambda d: serving.predict_in_cluster(d, "iris-v1", seldon.v2_request([[1, 2, 3, 4]])),
        lambda d: k3d.grant_prometheus(d, timeout_s=1),  # kubectl apply of Prometheus's RBAC manifests
        lambda d: k3d.read_token_secret(d),
    ],
    ids=[
        "wait-nodes",
        "wait-seldondeployment",
        "get-seldondeployments",
        "create-raw-infer",
        "apply-prometheus-rbac",
        "get-token-secret",
    ],
)
def test_kubectl_takes_devstacks_commands_up_to_the_api_server(tools_on_path: None, tmp_path: Path, call) -> None:  # type: ignore[no-untyped-def]
    """Each kubectl command devstack issues, run by the real kubectl: its flags and arguments are accepted (a
    malformed one fails at parsing), and it fails at the API server, in one line (there is none here)."""
    dead_kubeconfig(tmp_path)
    with pytest.raises(ToolFailed) as e:
        call(tmp_path)
    line = e.value.one_line()
    assert "127.0.0.1:1" in line and "\n" not in line, line
    assert "unknown flag" not in line and "error: unknown" not in line, line


def test_an_image_k3d_cannot_pull_becomes_one_line() -> None:
    raw = ToolFailed(
        "`k3d registry create x` failed (1): \x1b[31mFATA\x1b[0m[0000] Failed to create registry: docker failed to "
        "pull image 'docker.io/library/registry:2': docker failed to pull the image 'docker.io/library/registry:2'",
        "",
    )
    e = k3d.explain(raw)
    assert isinstance(e, EnvironmentProblem) and e.exit_code == 3
    assert e.cause == "k3d could not pull docker.io/library/registry:2: no registry answered for it."
    assert "docker pull docker.io/library/registry:2" in e.fix


def test_doctor_and_up_hold_the_tools_to_the_same_floors() -> None:
    from devstack.lifecycle import doctor

    # one table, imported by both (it was typed twice, with a test that the copies agreed)
    assert doctor.MIN_VERSIONS is k3d.MIN_VERSIONS
    assert set(k3d.MIN_VERSIONS) == {"k3d", "kubectl", "helm"}


@pytest.mark.parametrize(("tool", "version"), [("helm", "2.17.0"), ("kubectl", "1.21.14")])
def test_doctor_names_a_too_old_kubectl_or_helm(tool: str, version: str) -> None:
    from devstack.lifecycle.doctor import Level, diagnose
    from devstack.runtime.host import EngineFacts, HostFacts

    tools = {"k3d": "5.9.0", "kubectl": "1.33.5", "helm": "3.19.0", tool: version}
    facts = HostFacts(
        arch="arm64",
        os="Darwin",
        host_mib=32768,
        cpus=12,
        disk_free_mib=100_000,
        disk_path="/",
        engine=EngineFacts(cli="28.0.1", reachable=True, mem_mib=24_000, compose="2.40.3"),
        tools=tools,
        busy_ports=(),
    )
    found = [f for f in diagnose(facts, profile="ml", floors_mib=8000, budget_mib=None, ports={}, needs_k3d=True)]
    (old,) = [f for f in found if f.check == tool]
    assert old.level is Level.ERROR and old.detail == f"{tool} {version} is too old"
    assert f"{tool} {'.'.join(map(str, k3d.MIN_VERSIONS[tool]))}+" in old.fix


def test_the_chart_repository_can_be_a_mirror(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    argv = k3d.helm_install_argv(tmp_path, values)
    assert argv[argv.index("--repo") + 1] == k3d.SELDON_CHART_REPO
    monkeypatch.setenv(k3d.CHART_REPO_VARIABLE, "http://charts.example.internal/seldon ")
    argv = k3d.helm_install_argv(tmp_path, values)
    # the same chart at the same version, from the mirror
    assert argv[argv.index("--repo") + 1] == "http://charts.example.internal/seldon"
    assert argv[argv.index("--version") + 1] == k3d.SELDON_VERSION and k3d.SELDON_CHART in argv
    monkeypatch.setenv(k3d.CHART_REPO_VARIABLE, "  ")
    assert k3d.SELDON_CHART_REPO in k3d.helm_install_argv(tmp_path, values)


@pytest.mark.parametrize(
    "ref, listed",
    [
        ("registry:2", "docker.io/library/registry:2"),
        ("seldonio/seldon-core-operator:1.17.1", "docker.io/seldonio/seldon-core-operator:1.17.1"),
        ("docker.io/seldonio/mlserver:1.7.1", "docker.io/seldonio/mlserver:1.7.1"),
        ("k3d-devstack-x-builds:5501/devstack/mlserver:abc", "k3d-devstack-x-builds:5501/devstack/mlserver:abc"),
        ("localhost/x:1", "localhost/x:1"),
        ("ghcr.io/k3d-io/k3d-tools:5.9.0", "ghcr.io/k3d-io/k3d-tools:5.9.0"),
        ("busybox", "docker.io/library/busybox:latest"),
    ],
)
def test_images_are_compared_by_containerds_names(ref: str, listed: str) -> None:
    assert k3d.containerd_ref(ref) == listed


def test_the_nodes_get_the_seldon_images_they_pull_themselves() -> None:
    # on amd64 the nodes pull Seldon's operator and storage initializer (devstack's MLServer build comes from the
    # build registry): those are what `up` loads from the local engine when it has them
    from devstack.planning.catalog import upstream_platforms

    images = ml_plan().service("seldon").images
    refs = seldon.cluster_images(images, upstream_platforms("seldon"), "amd64", "reg:5501")
    assert [refs[k] for k in k3d.NODE_PULLED] == [
        "seldonio/seldon-core-operator:1.17.1",
        "seldonio/rclone-storage-initializer:1.17.1",
    ]
    assert refs["mlserver"].startswith("reg:5501/")


def test_up_refuses_a_malformed_build_arg_before_docker_is_asked(tmp_path: Path) -> None:
    env = {"XDG_STATE_HOME": str(tmp_path), "DOCKER_HOST": "unix:///nonexistent.sock"}
    r = run_cli("up", "--services", "redis", "--budget", "2g", "--build-arg", "nope:BASE=x", env=env)
    assert r.returncode == 2, r.stdout + r.stderr
    (line,) = r.stderr.strip().splitlines()
    assert "no recipe 'nope'" in line and "mlserver" in line and "Docker" not in line, line
    assert not (tmp_path / "devstack").exists()
