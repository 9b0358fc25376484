"""How a memory limit becomes each service's own knobs.

Pure functions: a service's total memory (and replica count) in, the per-container limits and the knobs that
keep each process inside its container out. JVM heaps and caches take a fraction of the container and leave
headroom for off-heap memory, thread stacks and the page cache, so the kernel's OOM killer is not what sizes
them. Every value here is written into the stack's `.env` or a generated config file.

Each service's own sizer is its `size()` in `devstack/services/<name>.py`; this module holds what they share.
"""

from __future__ import annotations

from dataclasses import dataclass

MiB = 1024 * 1024


def down(mib: float, step: int = 32) -> int:
    """Round down to a step, so derived values never exceed what they were derived from."""
    return int(mib // step) * step


def clamp(v: int, lo: int, hi: int) -> int:
    return max(lo, min(hi, v))


@dataclass(frozen=True)
class Sized:
    """Per-container memory limits and the knobs derived from them."""

    containers: dict[str, int]  # compose service -> limit MiB
    knobs: dict[str, str]  # knob name -> value as written into the stack
    # knob name -> MiB that knob pins inside which container, so tests can check knobs fit their limits
    inside: dict[str, tuple[str, int]]


def with_exporters(sized: Sized, exporters: dict[str, int]) -> Sized:
    """A service's sizing with exporter containers beside it, each at its fixed limit (catalog.Exporter).

    The planner hands the service's own sizer what is left after them, so the containers still add up to the
    service's limit. Each Go exporter gets a GOMEMLIMIT a little under its limit, as MinIO and Prometheus do."""
    if not exporters:
        return sized
    knobs = dict(sized.knobs)
    inside = dict(sized.inside)
    for name, mib in exporters.items():
        soft = down(mib * 0.75, 8)
        knobs[f"{name}.GOMEMLIMIT"] = f"{soft}MiB"
        inside[f"{name}.GOMEMLIMIT"] = (name, soft)
    return Sized({**sized.containers, **exporters}, knobs, inside)
