"""Static checks run by the same test command as everything else, so CI cannot skip them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

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


def _imports(path: Path, module: str, known: set[str]) -> set[str]:
    """The devstack modules `module` imports anywhere in its file: at the top, in a function (a lazy import still
    makes a cycle, only a later one) or under TYPE_CHECKING."""
    import ast

    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            names = [base, *(f"{base}.{a.name}" for a in node.names)]
        else:
            continue
        found |= {n for n in names if n in known and n != module}
    return found


def test_no_import_cycle_in_the_package() -> None:
    # render -> cluster_metrics -> k3d -> render and k3d <-> image_builds were cycles (issue 14.4): each module
    # should be importable, and readable, without the ones that import it
    root = REPO / "devstack"
    files = {}
    for f in root.rglob("*.py"):
        parts = f.relative_to(REPO).with_suffix("").parts
        files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = f
    graph = {m: _imports(f, m, set(files)) for m, f in files.items()}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 on the path, 2 done

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                cycles.append([*path[path.index(n) :], n])
            elif n not in state:
                visit(n, [*path, n])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert not cycles, "\n".join(" -> ".join(c) for c in cycles)


def test_only_the_engine_package_talks_to_docker() -> None:
    # issue 14.3: Docker was reached three ways from seven modules (python-on-whales' global client, clients of
    # their own, the docker SDK); one route now, devstack/runtime/engine/, which turns Docker's failures into
    # DockerFailed
    import ast

    outside: list[str] = []
    for f in sorted((REPO / "devstack").rglob("*.py")):
        if f.parent.name == "engine":
            continue
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom) and not node.level
                else []
            )
            for n in names:
                if n.split(".")[0] in ("python_on_whales", "docker"):
                    outside.append(f"{f.relative_to(REPO)}:{node.lineno}: {n}")
    assert not outside, "\n".join(outside)


# issue 14.4: the folders are the layers, top to bottom, each importing only its own and the ones below it
# (devstack/__init__ for the version, and the reference pipeline's code and data, outside the layers, for all);
# the flow host -> profile -> plan -> render -> engine -> health -> bootstrap -> monitor reads from the bottom up
LAYERS = ("ui", "lifecycle", "monitor", "runtime", "render", "planning", "services", "core")
OUTSIDE = ("demo", "pipeline")  # the reference pipeline: it drives the layers, and imports what it needs
PURE = ("planning", "services", "core")  # no Docker client, no Textual, no rich: checked by the import graph


def _modules() -> dict[str, Path]:
    files = {}
    for f in (REPO / "devstack").rglob("*.py"):
        parts = f.relative_to(REPO).with_suffix("").parts
        files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = f
    return files


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_every_module_lives_in_a_layer() -> None:
    stray = [m for m in _modules() if _layer(m) not in (*LAYERS, *OUTSIDE, "", "__main__")]
    assert not stray, f"modules outside the layer folders: {stray}"


def test_the_layers_hold() -> None:
    files = _modules()
    broken = []
    for m, f in sorted(files.items()):
        if _layer(m) not in LAYERS:
            continue
        below = set(LAYERS[LAYERS.index(_layer(m)) :]) | {"pipeline"}
        if _layer(m) == "ui":
            below.add("demo")  # `devstack demo` and `env`'s model-server URL: the command line runs the pipeline
        for n in sorted(_imports(f, m, set(files))):
            if n != "devstack" and _layer(n) not in below:
                broken.append(f"{m} -> {n}")
    assert not broken, "imports against the layers:\n" + "\n".join(broken)


def test_the_pure_layers_import_no_docker_client_textual_or_rich() -> None:
    import ast

    found = []
    for m, f in sorted(_modules().items()):
        if _layer(m) not in PURE:
            continue
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            found += [
                f"{m}: {n}" for n in names if n.split(".")[0] in ("docker", "python_on_whales", "textual", "rich")
            ]
    assert not found, found


# what a service module may import besides the core's helpers: the types, the probe kinds, what Spark's hosts share
SERVICE_SHARED = {"services.base", "services.probes", "services.pyspark"}


def test_a_service_module_imports_no_other_service_and_nothing_that_runs() -> None:
    # issue 14.1: services are independent of each other and of the planner (they see it through base.Ctx), so a
    # new service is one module that nothing else has to know
    from devstack.services import BUILT_IN

    files = _modules()
    allowed = {f"devstack.{m}" for m in SERVICE_SHARED} | {
        f"devstack.core.{m}" for m in ("knobs", "templates", "resources", "units")
    }
    modules = {f"devstack.services.{b.name}" for b in BUILT_IN}
    outside = {m: sorted(_imports(files[m], m, set(files)) - allowed) for m in sorted(modules)}
    assert not {m: v for m, v in outside.items() if v}, outside
