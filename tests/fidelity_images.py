"""Which DEVSTACK_IMAGE_* variable selects the stand-in of an official image the fidelity table lists."""

from __future__ import annotations

from devstack.planning import seldon
from devstack.planning.catalog import CATALOG


def run_refs() -> dict[tuple[str, str], str]:
    """(service, image key) -> the ref devstack runs: the catalog's pin, or devstack's own build's name for it."""
    return {
        (name, key): seldon.devstack_ref(image.ref) if image.devstack_build else image.ref
        for name, spec in CATALOG.items()
        for key, image in spec.images.items()
    }


def pinned() -> dict[str, str]:
    """Every image ref devstack runs -> DEVSTACK_IMAGE_<KEY>."""
    out = {}
    for (_, key), ref in run_refs().items():
        out[ref] = f"DEVSTACK_IMAGE_{key.upper()}"  # spark and jupyter share one: the later (jupyter) names it
    return out


def stand_in_variable(image: str) -> str | None:
    return pinned().get(image)
