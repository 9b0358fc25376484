"""Where a stack lives and what it keeps: the state dir, its secrets, and a lock.

`~/.local/state/devstack/<stack>/` (XDG_STATE_HOME) holds the rendered project that `up` runs, so a user can
also `cd` there and use plain `docker compose`. Secrets are generated once per stack and kept (0600): volumes
are initialised with them, so a re-render must never change them.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import uuid
from pathlib import Path

from devstack.core.errors import UsageError
from devstack.core.files import write_private
from devstack.services import SERVICES

MARKER = ".devstack-stack"
SECRETS_FILE = "secrets.json"
# the rendered project's Compose files, in the order Compose merges them: compose.yaml includes one file per
# service; the start-interval file, rendered only for engines that take the key, adds healthcheck start_interval
COMPOSE_FILE = "compose.yaml"
START_INTERVAL_FILE = "compose.start-interval.yaml"


def project_files(directory: Path) -> list[str | Path]:
    """The Compose files of a rendered stack that exist (what `.env`'s COMPOSE_FILE lists too). compose.yaml is
    always named, so a stack not rendered yet still gets Compose's own error about it."""
    extra = directory / START_INTERVAL_FILE
    return [directory / COMPOSE_FILE, *([extra] if extra.is_file() else [])]


# every service's secrets, by kind (the service modules own them)
SECRET_KINDS = {sec.name: sec.kind for s in SERVICES.values() for sec in s.secrets}
SECRET_NAMES = tuple(SECRET_KINDS)


def state_home() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "devstack"


def stack_dir(stack: str) -> Path:
    return state_home() / stack


def project_name(stack: str) -> str:
    return "devstack" if stack == "default" else f"devstack-{stack}"


def _new_secret(name: str) -> str:
    if SECRET_KINDS.get(name) == "uuid":
        # a base64url UUID without padding, as `kafka-storage.sh random-uuid` prints; like Kafka's own
        # Uuid.randomUuid, never one starting with '-', which command lines read as a flag
        while True:
            cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
            if not cid.startswith("-"):
                return cid
    if SECRET_KINDS.get(name) == "fernet":
        return base64.urlsafe_b64encode(os.urandom(32)).decode()
    return secrets.token_urlsafe(24)


def load_or_create_secrets(directory: Path) -> dict[str, str]:
    """The stack's secrets: kept from an earlier render, new ones added for services added since."""
    path = directory / SECRETS_FILE
    existing: dict[str, str] = {}
    if path.exists():
        try:
            existing = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise UsageError(
                f"{path} is unreadable ({e}).",
                "restore it from a backup; deleting it makes new passwords that the existing volumes will reject.",
            ) from None
    merged = {n: existing.get(n) or _new_secret(n) for n in SECRET_NAMES}
    merged.update({k: v for k, v in existing.items() if k not in merged})
    if merged != existing:
        write_private(path, json.dumps(merged, indent=2, sort_keys=True) + "\n")
    return merged


def check_target_dir(directory: Path) -> None:
    """Refuse to render into a directory that holds something other than a devstack stack."""
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"{directory} is a file, not a directory.", "give --out a directory path.")
    others = [p for p in directory.iterdir() if p.name != ".lock"] if directory.is_dir() else []
    if others and not (directory / MARKER).exists():
        raise UsageError(
            f"{directory} is not empty and is not a devstack stack; devstack will not write over it.",
            "give an empty or new directory (render --out DIR, or another --stack).",
        )


class NewDirs:
    """The directories a command is about to create for a stack (its state dir, and parents that do not exist
    yet): removed again when the command fails before it has started anything, so a refused `up` or a failed
    render leaves nothing behind. A directory that existed before is never touched. Call `keep()` once the
    command has started something that the directory describes."""

    def __init__(self, directory: Path) -> None:
        self.top: Path | None = None
        p = directory.absolute()
        while not p.exists() and p != p.parent:
            self.top, p = p, p.parent
        self.kept = False

    def keep(self) -> None:
        self.kept = True

    def __enter__(self) -> NewDirs:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        if exc_type is not None and not self.kept and self.top is not None:
            shutil.rmtree(self.top, ignore_errors=True)


class StackLock:
    """One devstack command changes a stack at a time: an advisory lock on the stack dir's `.lock`, released
    by the kernel even when the holder is killed, so a crashed `up` never leaves a stale lock behind."""

    def __init__(self, directory: Path, stack: str) -> None:
        self.path = directory / ".lock"
        self.stack = stack
        self._fd: int | None = None

    def __enter__(self) -> StackLock:
        import fcntl

        from devstack.core.errors import EnvironmentProblem

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise EnvironmentProblem(
                f"another devstack command is changing stack {self.stack!r} (pid {holder}).",
                "wait for it to finish (or stop it), then run this again.",
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        import fcntl

        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def read_secrets(directory: Path) -> dict[str, str]:
    path = directory / SECRETS_FILE
    if not path.exists():
        return {}
    return dict(json.loads(path.read_text(encoding="utf-8")))
