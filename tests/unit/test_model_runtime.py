"""Training and serving share one model runtime: a model the DAG pickles loads in devstack's MLServer image.

The official seldonio/mlserver:1.7.1 (numpy 1.26.4, scikit-learn 1.5.2) cannot load a pipeline pickled under
numpy 2 (`No module named 'numpy._core.numeric'`), so the pins are one file that both read, and every image
that loads or trains the model carries exactly those releases."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from devstack.core.resources import k3d_dir, model_runtime_file
from devstack.planning.plan import PlanRequest, make_plan
from devstack.render.project import config_files
from tests.model_runtime import model_runtime_pins

REPO = Path(__file__).resolve().parents[2]
RECIPE = k3d_dir() / "images" / "mlserver"
PIN = re.compile(r"^[A-Za-z0-9_.-]+==[\w.]+$")


def _lock(path: Path) -> dict[str, str]:
    pins = [s.strip() for s in path.read_text(encoding="utf-8").splitlines() if "==" in s and not s.startswith("#")]
    return {name.lower().replace("_", "-"): version for name, version in (p.split("==") for p in pins)}


def test_the_runtime_is_pinned_and_names_the_model_libraries() -> None:
    pins = model_runtime_pins()
    assert all(PIN.match(p) for p in pins), pins
    assert {"scikit-learn", "numpy", "pandas", "scipy", "mlflow-skinny"} <= {p.split("==")[0] for p in pins}


def test_devstacks_mlserver_recipe_installs_the_runtime_file() -> None:
    reqs = (RECIPE / "requirements.txt").read_text(encoding="utf-8").splitlines()
    assert "-r model-runtime.txt" in reqs
    dockerfile = (RECIPE / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^COPY .*model-runtime\.txt.* /tmp/req/$", dockerfile, re.M), "the build context's copy"


@pytest.mark.parametrize(
    "lock",
    [
        "k3d/images/mlserver/constraints.txt",  # devstack's MLServer, what users serve with
        "tests/testbed/images/mlserver/constraints.txt",  # its test-bed build
        "tests/testbed/images/jupyter/constraints.txt",  # notebook 04 trains, 05 serves what it trained
    ],
)
def test_every_image_that_trains_or_serves_the_model_locks_the_same_releases(lock: str) -> None:
    locked = _lock(REPO / lock)
    for pin in model_runtime_pins():
        name, version = pin.split("==")
        assert locked.get(name) == version, f"{lock}: {name} {locked.get(name)} != {version} (model-runtime.txt)"


def test_the_rendered_dag_reads_the_runtime_file_render_ships_beside_it(tmp_path: Path) -> None:
    plan = make_plan(PlanRequest("minimal", ("airflow",), budget_mib=8192))
    files = config_files(plan, {}, "rt")
    shipped = files["config/airflow/dags/model-runtime.txt"]
    assert shipped == model_runtime_file().read_text(encoding="utf-8")
    dag = files["config/airflow/dags/pattern_pursuit_daily.py"]
    # run the DAG's own two assignments (the rest needs Airflow) where the rendered project puts them
    (tmp_path / "model-runtime.txt").write_text(shipped, encoding="utf-8")
    tree = ast.parse(dag)
    wanted = [
        n
        for n in tree.body
        if isinstance(n, ast.Assign)
        and {t.id for t in n.targets if isinstance(t, ast.Name)} & {"MODEL_RUNTIME", "TRAIN_REQUIREMENTS"}
    ]
    assert len(wanted) == 2
    scope: dict[str, object] = {"__file__": str(tmp_path / "pattern_pursuit_daily.py"), "Path": Path}
    exec(compile(ast.Module(body=wanted, type_ignores=[]), "dag", "exec"), scope)
    assert scope["TRAIN_REQUIREMENTS"] == model_runtime_pins()


def test_training_and_serving_run_the_same_python_minor() -> None:
    """The DAG's venv takes the scheduler's Python: Airflow's image is pinned to the minor MLServer's recipe builds
    on, so a model is unpickled by the Python minor that pickled it."""
    from devstack.planning.catalog import CATALOG
    from devstack.services.airflow import AIRFLOW_PYTHON

    base = re.search(r"^ARG BASE=\S*python:(\d+\.\d+)", (RECIPE / "Dockerfile").read_text(), re.M)
    assert base, "k3d/images/mlserver/Dockerfile: no python base"
    assert base[1] == AIRFLOW_PYTHON
    assert CATALOG["airflow"].images["airflow"].ref.endswith(f"-python{AIRFLOW_PYTHON}")


def test_notebook_04_trains_under_the_model_runtime() -> None:
    """The official pyspark-notebook pins only pandas (2.2.3) of these; its scikit-learn, numpy and scipy are
    whatever conda-forge had when it was built. Notebook 04 trains the model notebook 05 serves, so its first cell
    installs every model-runtime pin (a no-op in the test image, which has them)."""
    import json

    nb = json.loads((REPO / "notebooks" / "04_mlflow_training.ipynb").read_text(encoding="utf-8"))
    first = "".join(next(c for c in nb["cells"] if c["cell_type"] == "code")["source"])
    assert first.startswith("%pip install -q "), first
    assert set(model_runtime_pins()) <= set(first.split()), first
