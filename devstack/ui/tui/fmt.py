"""Small text formatters shared by the dashboard's widgets and `devstack top` (pure)."""

from __future__ import annotations

from datetime import datetime

BLOCKS = " ▏▎▍▌▋▊▉█"


def mib(n_bytes: int) -> str:
    m = n_bytes / (1 << 20)
    return f"{m / 1024:.1f}G" if m >= 1024 else f"{m:.0f}M"


def bar(used: int, limit: int, width: int = 10) -> str:
    """A horizontal bar in eighths of a cell: how full a container's memory limit is."""
    if not limit:
        return " " * width
    eighths = max(0, min(width * 8, round(used / limit * width * 8)))
    full, part = divmod(eighths, 8)
    return ("█" * full + (BLOCKS[part] if part else "")).ljust(width)


def started_epoch(started_at: str) -> float | None:
    """The engine's ISO time (nanoseconds, Z) as epoch seconds."""
    if not started_at or started_at.startswith("0001-"):
        return None
    text = started_at.rstrip("Z")
    if "." in text:
        head, frac = text.split(".", 1)
        text = f"{head}.{frac[:6]}"
    try:
        return datetime.fromisoformat(text + "+00:00").timestamp()
    except ValueError:
        return None


def uptime(started_at: str, now: float) -> str:
    t = started_epoch(started_at)
    if t is None:
        return "-"
    s = max(0, int(now - t))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600}h"
