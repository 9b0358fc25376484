"""The shipped text a service renders its configs from: compose/templates/ and the reference pipeline's code.
Reads files that ship with devstack, nothing of a stack's."""

from __future__ import annotations

from pathlib import Path
from string import Template

from devstack.core.resources import compose_dir


def template(name: str, **values: object) -> str:
    """compose/templates/<name> with its $placeholders filled (every one must be given)."""
    text = (compose_dir() / "templates" / name).read_text(encoding="utf-8")
    return Template(text).substitute({k: str(v) for k, v in values.items()})


def raw(name: str) -> str:
    """compose/templates/<name> as it is."""
    return (compose_dir() / "templates" / name).read_text(encoding="utf-8")


def shipped(kind: str, target: str) -> dict[str, str]:
    """The reference pipeline's code that runs inside containers (Airflow DAGs, the Spark job), copied into the
    stack dir so the rendered project mounts its own copy and stays runnable without devstack."""
    src = Path(__file__).parent.parent / "pipeline" / kind
    return {f"{target}/{f.name}": f.read_text(encoding="utf-8") for f in sorted(src.glob("*.py"))}


def yaml_text(doc: object, width: int = 80) -> str:
    """A generated config as YAML, keys in the order given. PyYAML is imported here, on the first render, not
    with the services' modules: `plan` loads every service and renders none."""
    import yaml

    return yaml.safe_dump(doc, sort_keys=False, width=width)
