"""Running a notebook headless inside JupyterLab's container (nbclient, kernel python3), shared by the notebook
and pipeline end-to-end tests."""

from __future__ import annotations

import json
import subprocess
from typing import Any

# runs inside the container: one notebook, headless, nothing written back; on a failing cell, its source and
# error as one JSON line
RUNNER = r"""
import json, sys, time
import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError

path, timeout = sys.argv[1], int(sys.argv[2])
nb = nbformat.read(path, as_version=4)
client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": "."}})
start = time.monotonic()
try:
    client.execute()
except (CellExecutionError, CellTimeoutError) as e:
    print(json.dumps({"ok": False, "error": str(e)[-6000:]}))
    sys.exit(1)
outputs = []
for cell in nb.cells:
    for o in cell.get("outputs", []):
        text = o.get("text") or o.get("data", {}).get("text/plain", "")
        outputs.append(text if isinstance(text, str) else "".join(text))
print(json.dumps({"ok": True, "seconds": round(time.monotonic() - start, 1), "outputs": outputs}))
"""


def run_notebook(container: str, notebook: str, timeout: int = 600) -> dict[str, Any]:
    """{"ok": bool, "seconds": float, "outputs": [...]} or {"ok": False, "error": ...} with the failing cell."""
    cmd = ["docker", "exec", "-w", "/home/jovyan/work/notebooks", container, "python", "-c", RUNNER, notebook]
    r = subprocess.run([*cmd, str(timeout)], capture_output=True, text=True, timeout=timeout * 3)
    return _result(r)


def run_notebook_on_host(
    python: str, directory: str, notebook: str, env: dict[str, str], timeout: int = 600
) -> dict[str, Any]:
    """The same, with a host Python (a user's venv) and the stack's host endpoints in the environment."""
    r = subprocess.run(
        [python, "-c", RUNNER, notebook, str(timeout)],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout * 3,
    )
    return _result(r)


def _result(r: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    return dict(json.loads(lines[-1])) if lines else {"ok": False, "error": r.stdout[-3000:] + r.stderr[-3000:]}
