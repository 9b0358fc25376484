"""Files written whole or not at all: the rendered project, the state, the caches."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, text: str, mode: int = 0o644) -> None:
    """Write a file whole or not at all: a reader (a container's bind mount, a second devstack) never sees half of
    it, and a file of mode 0600 is never readable by others, not even while it is written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # a new file of our own (mode 0600 from the start), so two writers at once never share one, nor a crashed
    # writer's leftover lend its mode
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (secrets, .env), atomically."""
    write_atomic(path, text, 0o600)
