"""Which DEVSTACK_IMAGE_* variable selects the stand-in of an official image the fidelity table lists."""

from __future__ import annotations

from devstack import seldon
from devstack.catalog import CATALOG


def pinned() -> dict[str, str]:
    """Every image ref devstack pins (its own builds under their devstack name) -> DEVSTACK_IMAGE_<KEY>."""
    out = {}
    for spec in CATALOG.values():
        for key, image in spec.images.items():
            ref = seldon.devstack_ref(image.ref) if image.devstack_build else image.ref
            out[ref] = f"DEVSTACK_IMAGE_{key.upper()}"  # spark and jupyter share one: the later (jupyter) names it
    return out


def stand_in_variable(image: str) -> str | None:
    return pinned().get(image)
