"""The pure parts of devstack's image builds: which images need building for which architecture, the refs they are
tagged and pushed as, the recipe hash that makes a re-run a no-op, and the shipped recipes' contract."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from devstack.core.resources import k3d_dir
from devstack.planning import seldon
from devstack.planning.catalog import CATALOG
from devstack.runtime import image_builds
from tests.model_runtime import model_runtime_pins

SPEC = CATALOG["seldon"]
IMAGES = {k: v.ref for k, v in SPEC.images.items()}
PLATFORMS = {k: v.platforms for k, v in SPEC.images.items()}
REGISTRY = "k3d-devstack-builds:5501"
REPO = Path(__file__).resolve().parents[2]


def test_arm64_needs_the_amd64_only_images_that_have_a_recipe() -> None:
    assert image_builds.needed(PLATFORMS, "arm64") == ["mlserver", "storage_initializer"]


def test_amd64_needs_nothing_unless_forced() -> None:
    assert image_builds.needed(PLATFORMS, "amd64") == []
    assert image_builds.needed(PLATFORMS, "amd64", force=True) == ["mlserver", "storage_initializer"]


def test_every_catalog_image_that_says_build_it_has_a_recipe() -> None:
    for key, image in SPEC.images.items():
        if image.note.startswith("build it"):
            assert key in image_builds.RECIPES
            assert (k3d_dir() / "images" / image_builds.RECIPES[key] / "Dockerfile").is_file()


@pytest.mark.parametrize("arch", ["arm64", "amd64"])
def test_targets_are_tagged_as_the_cluster_names_them(arch: str) -> None:
    todo = image_builds.targets(IMAGES, PLATFORMS, arch, REGISTRY, 5501, force=arch == "amd64")
    arm = seldon.cluster_images(IMAGES, PLATFORMS, "arm64", REGISTRY)
    assert {t.key: t.ref for t in todo} == {
        "mlserver": arm["mlserver"],
        "storage_initializer": arm["storage_initializer"],
    }
    mls = next(t for t in todo if t.key == "mlserver")
    assert mls.ref == "k3d-devstack-builds:5501/devstack/mlserver:1.7.1"
    assert mls.push_ref == "localhost:5501/devstack/mlserver:1.7.1"
    assert (mls.repository, mls.tag, mls.platform) == ("devstack/mlserver", "1.7.1", f"linux/{arch}")


def test_host_ref_swaps_only_the_registry() -> None:
    assert image_builds.host_ref("k3d-x-builds:5601/devstack/a:1", 5601) == "localhost:5601/devstack/a:1"


def test_a_private_mirrors_ref_keeps_its_name_and_tag() -> None:
    images = {**IMAGES, "mlserver": "harbor.local/seldonio/mlserver:1.7.1-custom"}
    (t,) = [t for t in image_builds.targets(images, PLATFORMS, "arm64", REGISTRY, 5501) if t.key == "mlserver"]
    assert t.ref == f"{REGISTRY}/devstack/mlserver:1.7.1-custom"


def test_recipe_hash_follows_files_platform_and_build_args(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / ".wheels").mkdir()
    h = image_builds.recipe_hash(tmp_path, "linux/arm64")
    assert h == image_builds.recipe_hash(tmp_path, "linux/arm64")
    (tmp_path / ".wheels" / "x.whl").write_text("ignored")  # dotfiles: build inputs, not the recipe
    assert image_builds.recipe_hash(tmp_path, "linux/arm64") == h
    assert image_builds.recipe_hash(tmp_path, "linux/amd64") != h
    assert image_builds.recipe_hash(tmp_path, "linux/arm64", {"BASE": "python:3.12-slim"}) != h
    (tmp_path / "Dockerfile").write_text("FROM scratch\nENV A=1\n")
    assert image_builds.recipe_hash(tmp_path, "linux/arm64") != h


def test_the_mlserver_recipe_has_the_test_beds_pins_and_seldons_contract() -> None:
    shipped = k3d_dir() / "images" / "mlserver"
    testbed = REPO / "tests" / "testbed" / "images" / "mlserver"

    def pins(p: Path) -> list[str]:
        out = []
        for line in p.read_text().splitlines():
            if line.startswith("-r "):
                out += pins(p.parent / line.removeprefix("-r ").strip())
            elif line and not line.startswith("#"):
                out.append(line)
        return out

    # the same lock, so both install the same releases; the recipe's top level adds the model runtime's file
    assert pins(shipped / "constraints.txt") == pins(testbed / "constraints.txt")
    top = pins(shipped / "requirements.txt")
    assert set(top) - set(pins(testbed / "requirements.txt")) <= set(model_runtime_pins()), top
    text = (shipped / "Dockerfile").read_text()
    assert re.search(r"^ARG BASE=docker\.io/library/python:3\.11-slim$", text, re.M)
    assert "MLSERVER_MODELS_DIR=/mnt/models" in text and "USER 1000" in text
    assert "EXPOSE 8080 8081 8082" in text
    init = (k3d_dir() / "images" / "storage-initializer" / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["rclone", "copy"]' in init


def test_registry_down_is_an_environment_problem() -> None:
    with pytest.raises(image_builds.RegistryUnreachable) as e:
        image_builds.Registry(1, timeout=2).ping()
    assert e.value.exit_code == 3 and "127.0.0.1:1 does not answer" in e.value.one_line()


def test_mlserver_is_devstacks_own_build_on_every_architecture() -> None:
    """Seldon's seldonio/mlserver:1.7.1 (numpy 1.26.4) cannot load the DAG's model, so no host runs it."""
    from devstack.planning.catalog import upstream_platforms

    images = CATALOG["seldon"].images
    refs = {k: i.ref for k, i in images.items()}
    for arch in ("amd64", "arm64"):
        assert "mlserver" in image_builds.needed(upstream_platforms("seldon"), arch), arch
        named = seldon.cluster_images(refs, upstream_platforms("seldon"), arch, "k3d-x-builds:5501")
        assert named["mlserver"] == "k3d-x-builds:5501/devstack/mlserver:1.7.1", arch
    # the others stay the publisher's where it has a build: amd64 runs Seldon's operator and initializer
    amd64 = seldon.cluster_images(refs, upstream_platforms("seldon"), "amd64", "k3d-x-builds:5501")
    assert amd64["storage_initializer"] == images["storage_initializer"].ref
    assert amd64["seldon_operator"] == images["seldon_operator"].ref


def test_the_demos_model_server_defaults_to_the_same_build(tmp_path: Path) -> None:
    import yaml

    from devstack.demo import default_mlserver_image
    from devstack.planning.plan import PlanRequest, make_plan
    from devstack.render.project import config_files

    assert default_mlserver_image() == seldon.devstack_ref(CATALOG["seldon"].images["mlserver"].ref)
    server = yaml.safe_load((REPO / "compose" / "pipeline.yaml").read_text())["services"]["model-server"]
    assert server["image"] == "${DEVSTACK_IMAGE_MLSERVER:-" + default_mlserver_image() + "}"
    # the rendered project carries the recipe that Compose's build section names, so it builds without devstack
    from devstack.demo import NEEDS
    from devstack.render.state import load_or_create_secrets

    secrets = load_or_create_secrets(tmp_path)
    files = config_files(make_plan(PlanRequest("full", NEEDS, budget_mib=16 * 1024)), secrets, "p")
    recipe = k3d_dir() / "images" / "mlserver"
    assert server["build"]["context"] == "../images/mlserver"
    for f in recipe.iterdir():
        assert files[f"images/mlserver/{f.name}"] == f.read_text(), f.name


def test_with_seldon_planned_the_demo_still_runs_devstacks_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Seldon's MLServer and the demo's Compose model server share DEVSTACK_IMAGE_MLSERVER. With Seldon planned,
    .env named seldonio/mlserver:1.7.1 there: the demo took it for the user's override and pulled it (found by
    test_seldon_cluster, offline), and `docker compose` on the project would run it. .env names the build that
    runs; a user's own image stays theirs."""
    from devstack.demo import NEEDS, default_mlserver_image, mlserver_override
    from devstack.planning.plan import PlanRequest, make_plan
    from devstack.render.project import env_values
    from devstack.render.state import load_or_create_secrets

    monkeypatch.delenv("DEVSTACK_IMAGE_MLSERVER", raising=False)
    plan = make_plan(PlanRequest("full", (*NEEDS, "seldon"), budget_mib=20 * 1024))
    secrets = load_or_create_secrets(tmp_path / "state")
    env = env_values(plan, "p", secrets, None)
    assert env["DEVSTACK_IMAGE_MLSERVER"] == default_mlserver_image() == "devstack/mlserver:1.7.1"
    (tmp_path / ".env").write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    assert mlserver_override(tmp_path) is None
    # the cluster still runs the same build, from its registry
    from devstack.planning.catalog import upstream_platforms

    platforms = upstream_platforms("seldon")
    cluster = seldon.cluster_images(plan.service("seldon").images, platforms, "amd64", "k3d-p-builds:5501")
    assert cluster["mlserver"] == "k3d-p-builds:5501/devstack/mlserver:1.7.1"
    # an image of the user's own is theirs, in .env and for the demo
    mine = "harbor.local/team/mlserver:1.7.1-custom"
    plan = make_plan(
        PlanRequest("full", (*NEEDS, "seldon"), budget_mib=20 * 1024, image_env={"DEVSTACK_IMAGE_MLSERVER": mine})
    )
    (tmp_path / ".env").write_text(
        f"DEVSTACK_IMAGE_MLSERVER={env_values(plan, 'p', secrets, None)['DEVSTACK_IMAGE_MLSERVER']}\n"
    )
    assert mlserver_override(tmp_path) == mine


def test_build_args_for_one_recipe_or_all() -> None:
    from devstack.core.errors import UsageError
    from devstack.ui.cli.common import parse_build_args

    got = parse_build_args(["BASE=b", "mlserver:PIP_CERT=/ca"], ("mlserver", "storage_initializer"))
    assert got == {"mlserver": {"BASE": "b", "PIP_CERT": "/ca"}, "storage_initializer": {"BASE": "b"}}
    for bad in (["BASE"], ["nope:BASE=b"]):
        with pytest.raises(UsageError):
            parse_build_args(bad, ("mlserver",))
