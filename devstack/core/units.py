"""Memory sizes as users write them ("20g", "512m") and as devstack stores them (whole MiB)."""

from __future__ import annotations

import re

from devstack.core.errors import UsageError

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt])(?:i?b)?\s*$", re.IGNORECASE)
_FACTOR_MIB = {"k": 1 / 1024, "m": 1, "g": 1024, "t": 1024 * 1024}

# Nobody has a 1 PiB laptop; a size above this is a typo, not a plan.
MAX_MIB = 1024 * 1024


def parse_size(text: str | int | float, what: str = "size") -> int:
    """Parse a size with a unit (k, m, g, t; binary, as Docker reads them) into whole MiB.

    A bare number is refused: Docker reads it as bytes and users mean gigabytes, so guessing either way would
    surprise someone.
    """
    if isinstance(text, bool) or not isinstance(text, str | int | float):
        raise UsageError(f"{what} {text!r} is not a size.", "write it with a unit, for example 20g or 512m.")
    raw = str(text)
    m = _SIZE.match(raw)
    if not m:
        raise UsageError(
            f"{what} {raw!r} is not a size.",
            "write a number with a unit: k, m, g or t (binary, as Docker reads them), for example 20g or 512m.",
        )
    mib = float(m.group(1)) * _FACTOR_MIB[m.group(2).lower()]
    if mib < 1:
        raise UsageError(f"{what} {raw!r} is smaller than 1 MiB.", "give a size of at least 1m.")
    if mib > MAX_MIB:
        raise UsageError(f"{what} {raw!r} is absurdly large.", "give a size below 1t.")
    return int(mib)


def fmt_mib(mib: int | float) -> str:
    """A size for people: 1.5 GiB, 768 MiB."""
    if abs(mib) >= 1024:
        g = mib / 1024
        return f"{g:.0f} GiB" if abs(g - round(g)) < 0.05 else f"{g:.1f} GiB"
    return f"{mib:.0f} MiB"


def compose_size(mib: int) -> str:
    """A size in the form Compose and the JVM accept (`1536m`)."""
    return f"{int(mib)}m"
