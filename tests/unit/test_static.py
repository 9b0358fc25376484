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
    # their own, the docker SDK); one route now, devstack/engine/, which turns Docker's failures into DockerFailed
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


# the pure core: facts and settings in, a plan out; nothing here may reach for Docker, the host, files of a stack
# or the terminal (DESIGN.md's flow). Until the redesign's folders exist (issue 14), this list is the layer.
CORE = {"units", "errors", "catalog", "knobs", "profiles", "plan", "config", "peaks", "endpoints", "seldon", "targets"}
# the services (issue 14.1): one module each, pure, part of the core
SERVICE_MODULES = {f"services.{f.stem}" for f in (REPO / "devstack" / "services").glob("*.py") if f.stem != "__init__"}
CORE |= {"services", *SERVICE_MODULES}
# where the shipped profiles, Compose templates and pipeline code are: paths, and files read from them
CORE_MAY_ALSO_USE = {"resources", "templates"}


def test_the_core_imports_only_the_core() -> None:
    files = {}
    for f in (REPO / "devstack").rglob("*.py"):
        parts = f.relative_to(REPO).with_suffix("").parts
        files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = f
    allowed = {f"devstack.{m}" for m in CORE | CORE_MAY_ALSO_USE} | {"devstack"}
    outside = {m: sorted(_imports(files[f"devstack.{m}"], f"devstack.{m}", set(files)) - allowed) for m in sorted(CORE)}
    assert not {m: v for m, v in outside.items() if v}, outside


# what a service module may import besides the core's helpers: the types, the probe kinds, what Spark's hosts share
SERVICE_SHARED = {"services.base", "services.probes", "services.pyspark"}


def test_a_service_module_imports_no_other_service_and_nothing_that_runs() -> None:
    # issue 14.1: services are independent of each other and of the planner (they see it through base.Ctx), so a
    # new service is one module that nothing else has to know
    from devstack.services import BUILT_IN

    files = {}
    for f in (REPO / "devstack").rglob("*.py"):
        parts = f.relative_to(REPO).with_suffix("").parts
        files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = f
    allowed = {f"devstack.{m}" for m in SERVICE_SHARED | {"knobs", "templates", "resources", "units"}}
    modules = {f"devstack.services.{b.name}" for b in BUILT_IN}
    outside = {m: sorted(_imports(files[m], m, set(files)) - allowed) for m in sorted(modules)}
    assert not {m: v for m, v in outside.items() if v}, outside
