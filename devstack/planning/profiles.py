"""Profiles (`profiles/*.yaml`) and the user's override file (`devstack.yaml` or `--config FILE`), loaded as
validated settings (settings.py).

Validating is profile_schema.py's job (pydantic, errors with file:line). This module decides when it must run: a
file validated once is kept, as its settings in JSON, in the user's cache dir under a key made of the file's
bytes, devstack's version and code, and the add-ons then known (a profile may name them). `plan` over unchanged
files so imports neither pydantic nor YAML, which were half of its start-up (issue 14.7). A file that fails
validation is never kept, so its error comes back on every run; a cache entry that does not read back is
validated again; a cache dir that cannot be written only costs the speed.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from devstack import __version__
from devstack.core.errors import UsageError
from devstack.core.files import write_atomic
from devstack.core.resources import profiles_dir
from devstack.planning.settings import OverrideSettings, ProfileSettings
from devstack.services import SERVICES, register_addons
from devstack.services.addon import addon_service

OVERRIDE_FILE = "devstack.yaml"
CACHE_KEEP = 64  # entries; the oldest beyond it go when a new one is written

_PKG = Path(__file__).resolve().parent.parent
_T = TypeVar("_T", ProfileSettings, OverrideSettings)


@dataclass(frozen=True)
class LoadedProfile:
    name: str
    path: Path
    profile: ProfileSettings


def profile_names() -> list[str]:
    return sorted(p.stem for p in profiles_dir().glob("*.yaml"))


def load_profile(name_or_path: str) -> LoadedProfile:
    """A profile by name (`full`) from profiles/, or by path to a YAML file of the user's."""
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or "/" in name_or_path:
        path = p
        name = p.stem
    else:
        path = profiles_dir() / f"{name_or_path}.yaml"
        name = name_or_path
        if not path.exists():
            raise UsageError(
                f"unknown profile {name_or_path!r}.",
                f"use one of: {', '.join(profile_names())} (or a path to a profile YAML file).",
            )
    text = _read_text(path)
    addons = {n: dict(s.declaration) for n, s in SERVICES.items() if s.declaration is not None}
    settings = _validated(["profile", text, addons], ProfileSettings.from_dict, _validate_profile, text, path)
    return LoadedProfile(name, path, settings)


def load_override(config: str | None, cwd: Path) -> tuple[Path | None, OverrideSettings]:
    """The user's override: `--config FILE` if given (it must exist), else ./devstack.yaml if present. Its add-ons
    join the registry, so `services:`, --services and the profiles may name them."""
    if config is not None:
        path = Path(config)
    else:
        path = cwd / OVERRIDE_FILE
        if not path.exists():
            return None, OverrideSettings()
    text = _read_text(path)
    override = _validated(["override", text], OverrideSettings.from_dict, _validate_override, text, path)
    register_addons(addon_service(name, d) for name, d in override.addons.items())
    return path, override


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file.", "check the path, or leave --config out.") from None
    except PermissionError:
        raise UsageError(f"{path}: cannot be read (permission denied).", f"chmod u+r {path}") from None
    except IsADirectoryError:
        raise UsageError(f"{path}: is a directory, not a YAML file.", "name the YAML file itself.") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path}: is not UTF-8 text.", "save it as UTF-8 YAML.") from None


# ---------------------------------------------------------------- the cache of validated files


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "devstack" / "settings"


@cache
def _code_stamp() -> str:
    """What of devstack's own code decides whether a file is valid: its version, and the size and time of every
    module in core/, services/ and planning/ (a development checkout changes them without a new version)."""
    parts = [__version__]
    for pkg in ("core", "services", "planning"):
        for entry in sorted(os.scandir(_PKG / pkg), key=lambda e: e.name):
            if entry.name.endswith(".py"):
                st = entry.stat()
                parts.append(f"{pkg}/{entry.name}:{st.st_size}:{st.st_mtime_ns}")
    return "\n".join(parts)


def _validated(
    key: list[Any],
    from_dict: Callable[[dict[str, Any]], _T],
    validate: Callable[[str, Path], _T],
    text: str,
    path: Path,
) -> _T:
    """The settings from the cache entry of `key` (the kind of file, its text, what else its validity depends
    on), or from `validate(text, path)`, then kept there."""
    digest = hashlib.sha256(json.dumps([_code_stamp(), *key], sort_keys=True).encode("utf-8")).hexdigest()
    entry = cache_dir() / f"{digest}.json"
    try:
        return from_dict(json.loads(entry.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass  # not validated before, or an entry that does not read back: validate
    settings = validate(text, path)
    _keep(entry, json.dumps(settings.to_dict()))  # in its order: plan.json shows what it was given
    return settings


def _validate_profile(text: str, path: Path) -> ProfileSettings:
    from devstack.planning.profile_schema import validate_profile  # pydantic and YAML: only on a cache miss

    return validate_profile(text, path)


def _validate_override(text: str, path: Path) -> OverrideSettings:
    from devstack.planning.profile_schema import validate_override

    return validate_override(text, path)


def _keep(entry: Path, text: str) -> None:
    try:
        write_atomic(entry, text)
        entries = sorted(entry.parent.glob("*.json"), key=lambda p: p.stat().st_mtime_ns)
        for old in entries[:-CACHE_KEEP]:
            old.unlink(missing_ok=True)
    except OSError:
        pass  # a read-only or full home: devstack validates every time instead
