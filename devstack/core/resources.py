"""Where the shipped Compose files, profiles and k3d config live: the repository's top level in a checkout,
`devstack/_data/` in an installed wheel."""

from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parent.parent  # devstack/, this file being devstack/core/resources.py


def resource_dir(name: str) -> Path:
    for candidate in (_PKG.parent / name, _PKG / "_data" / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"devstack's {name}/ directory is missing from this installation")


def compose_dir() -> Path:
    return resource_dir("compose")


def profiles_dir() -> Path:
    return resource_dir("profiles")


def k3d_dir() -> Path:
    return resource_dir("k3d")


def model_runtime_file() -> Path:
    """The model runtime's pins, the one file the training DAG's venv and devstack's MLServer image both install
    from, so a model pickled in training loads in serving (see the file's header)."""
    return k3d_dir() / "images" / "mlserver" / "model-runtime.txt"


def notebooks_dir(cwd: Path | None = None) -> Path | None:
    """The notebooks JupyterLab mounts: ./notebooks where the user runs devstack, else the shipped ones. One rule
    for every caller of `up` (the CLI and the dashboard's `u` key): a second caller with another rule would change
    the rendered .env, and so the jupyter container, on a stack that had not changed."""
    local = (cwd or Path.cwd()) / "notebooks"
    if local.is_dir():
        return local
    try:
        return resource_dir("notebooks")
    except FileNotFoundError:
        return None
