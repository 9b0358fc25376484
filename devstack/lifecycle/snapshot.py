"""Snapshots of a stack's data, and restoring one (issue 15.1).

A snapshot is a consistent copy of every named volume of the stack (Kafka's logs and offsets, ClickHouse,
PostgreSQL with Airflow's and MLflow's metadata, MinIO's buckets with their versions, Redis's AOF and RDB,
Prometheus's and Alertmanager's data) plus the stack's plan and secrets. The method is the same for every
service, and the one each of them documents as consistent: a copy of its files while it is stopped (pg_dump,
ClickHouse BACKUP or Redis BGSAVE would each be consistent for one service only, and Kafka has no such tool;
stopping the stack for the copy makes the set of them consistent too, offsets with topics, MLflow's runs with
its artifacts). A running stack is stopped for the copy and started again; the copy goes through the Engine API
(runtime/engine/volumes.py), so no helper image is needed.

Layout: <stack dir>/snapshots/<name>/ with manifest.json (written last), volumes/<volume>.tar and stack/
(plan.json, secrets.json, .env). A snapshot is written under `.partial-<name>` and renamed when whole, so one
cut short (Ctrl-C, a full disk) is never listed, and is removed on the way out. Seldon's k3d cluster is not in
a snapshot: its models come back from MLflow's registry with `devstack serve`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from devstack import __version__
from devstack.core.errors import EnvironmentProblem, UsageError
from devstack.core.files import write_private
from devstack.core.units import fmt_mib
from devstack.lifecycle.stack import Watch, open_stack
from devstack.planning.plan import Plan
from devstack.render.state import SECRETS_FILE, START_INTERVAL_FILE, StackLock, read_secrets
from devstack.runtime.engine.compose import ComposeEngine
from devstack.runtime.health import Probe, wait_healthy

SNAPSHOTS = "snapshots"
MANIFEST = "manifest.json"
PARTIAL = ".partial-"
STACK_FILES = ("plan.json", SECRETS_FILE, ".env")
NAME_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,62}$"
RESERVED = ("list",)  # `devstack snapshot list`
AUTO_PREFIX = "auto-"  # scheduled snapshots, pruned by --keep; others are never removed by devstack


@dataclass(frozen=True)
class SnapshotInfo:
    name: str
    created: str  # ISO 8601, UTC
    services: list[str]
    volumes: list[dict[str, Any]]  # key, service, compose_service, path, bytes, sha256
    bytes: int
    devstack: str

    @property
    def size(self) -> str:
        return fmt_mib(max(1, self.bytes >> 20)) if self.bytes >= 1 << 20 else f"{self.bytes >> 10} KiB"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_name(name: str) -> str:
    if re.fullmatch(NAME_PATTERN, name) and name not in RESERVED and not name.startswith("."):
        return name
    raise UsageError(
        f"{name!r} is not a snapshot name: it becomes a directory name.",
        "use 1-63 lowercase letters, digits, '.', '-' or '_', starting with a letter or digit (not 'list').",
    )


def default_name(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")


def snapshots_dir(directory: Path) -> Path:
    return directory / SNAPSHOTS


def _read(path: Path) -> SnapshotInfo | None:
    """A snapshot's manifest, or None when it is missing or unreadable (not a snapshot to list or restore)."""
    try:
        d = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
        return SnapshotInfo(
            d["name"], d["created"], list(d["services"]), list(d["volumes"]), int(d["bytes"]), d["devstack"]
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def list_snapshots(stack: str) -> list[SnapshotInfo]:
    """The stack's whole snapshots, newest first (one cut short has no manifest, and is not here)."""
    directory, _, _ = open_stack(stack)
    root = snapshots_dir(directory)
    found = [s for p in sorted(root.iterdir()) if p.is_dir() and (s := _read(p))] if root.is_dir() else []
    return sorted(found, key=lambda s: s.created, reverse=True)


def _start_and_wait(plan: Plan, directory: Path, engine: ComposeEngine) -> dict[str, Probe]:
    engine.up()
    watch = Watch(engine)
    return wait_healthy(
        plan, read_secrets(directory), exited=watch.exited, progressing=watch.progressing, not_ready=watch.not_ready
    )


def take(
    stack: str, name: str | None = None, *, progress: Callable[[str], None] = lambda s: None
) -> tuple[SnapshotInfo, dict[str, Probe]]:
    """Snapshot the stack: stop it, copy every named volume and its plan and secrets, start it again (if it ran).
    Returns the snapshot and, for a running stack, its services' health after the restart."""
    from devstack.runtime.engine.volumes import export_volume, project_volumes, volume_names

    name = check_name(name or default_name())
    directory, project, plan = open_stack(stack)
    root = snapshots_dir(directory)
    final, partial = root / name, root / f"{PARTIAL}{name}"
    if final.exists():
        raise UsageError(f"stack {stack!r} already has a snapshot {name!r}.", "give another name, or leave it out.")
    engine = ComposeEngine(directory, project)
    with StackLock(directory, stack):
        containers = engine.containers()
        running = [c for c in containers if c.state == "running"]
        if not containers and not volume_names(project):
            raise UsageError(
                f"stack {stack!r} has no data to snapshot: it was never brought up (or down --volumes took it).",
                f"run `devstack up --stack {stack}` first.",
            )
        created = not containers
        if created:  # down, its volumes kept: containers give the Engine API a way into them
            engine.create()
        probes: dict[str, Probe] = {}
        try:
            mounts = project_volumes(project)
            if running:
                progress(f"stopping the stack for a consistent copy ({len(running)} containers)")
                engine.stop_all()
            shutil.rmtree(partial, ignore_errors=True)
            (partial / "volumes").mkdir(parents=True)
            try:
                volumes: list[dict[str, Any]] = []
                total = 0
                for m in mounts:
                    progress(f"copying {m.key} ({m.compose_service}:{m.path})")
                    size, digest = export_volume(m, partial / "volumes" / f"{m.key}.tar")
                    volumes.append(
                        {
                            "key": m.key,
                            "service": m.service,
                            "compose_service": m.compose_service,
                            "path": m.path,
                            "bytes": size,
                            "sha256": digest,
                        }
                    )
                    total += size
                (partial / "stack").mkdir()
                for f in STACK_FILES:
                    if (directory / f).is_file():
                        shutil.copy2(directory / f, partial / "stack" / f)
                info = SnapshotInfo(
                    name,
                    datetime.now(UTC).isoformat(timespec="seconds"),
                    plan.names(),
                    volumes,
                    total,
                    __version__,
                )
                (partial / MANIFEST).write_text(json.dumps(info.to_dict(), indent=2) + "\n", encoding="utf-8")
                partial.rename(final)
            except BaseException:  # Ctrl-C or a failure: nothing half-written stays behind
                shutil.rmtree(partial, ignore_errors=True)
                raise
        finally:
            if created:
                with contextlib.suppress(Exception):
                    engine.down(volumes=False)
            elif running:
                progress("starting the stack again")
                probes = _start_and_wait(plan, directory, engine)
    return info, probes


def _verify(path: Path, info: SnapshotInfo) -> None:
    """Every volume's tar is there, whole: checked before anything of the stack is touched."""
    for v in info.volumes:
        tar = path / "volumes" / f"{v['key']}.tar"
        digest = hashlib.sha256()
        try:
            with tar.open("rb") as f:
                while chunk := f.read(1 << 20):
                    digest.update(chunk)
        except OSError:
            raise UsageError(
                f"snapshot {info.name!r} is damaged: {tar.name} is missing.", "restore another snapshot."
            ) from None
        if digest.hexdigest() != v["sha256"]:
            raise UsageError(
                f"snapshot {info.name!r} is damaged: {tar.name} does not match its checksum.",
                "restore another snapshot.",
            )
    if not (path / "stack" / SECRETS_FILE).is_file():
        raise UsageError(f"snapshot {info.name!r} is damaged: it has no secrets.json.", "restore another snapshot.")


def restore(
    stack: str, name: str, *, progress: Callable[[str], None] = lambda s: None
) -> tuple[SnapshotInfo, dict[str, Probe]]:
    """Replace the stack's data with the snapshot's, then bring the stack up. The stack must be down (its data is
    about to go), and planned with the snapshot's services; a damaged snapshot is refused before anything changes.
    The caller has asked the user."""
    from devstack.render.project import render
    from devstack.runtime.engine.volumes import import_volume, project_volumes

    check_name(name)
    directory, project, plan = open_stack(stack)
    path = snapshots_dir(directory) / name
    info = _read(path) if path.is_dir() else None
    if info is None:
        known = ", ".join(s.name for s in list_snapshots(stack)) or "none yet"
        raise UsageError(f"stack {stack!r} has no snapshot {name!r} (snapshots: {known}).", "pick one of them.")
    if sorted(info.services) != sorted(plan.names()):
        raise UsageError(
            f"snapshot {name!r} holds {', '.join(info.services)}, but stack {stack!r} is planned with "
            f"{', '.join(plan.names())}.",
            f"bring the stack up with the snapshot's services (devstack up --stack {stack} --services "
            f"{','.join(info.services)}), take it down, then restore.",
        )
    engine = ComposeEngine(directory, project)
    if any(c.state == "running" for c in engine.containers()):
        raise UsageError(
            f"stack {stack!r} is running: restoring replaces its data.",
            f"take it down first (devstack down --stack {stack}), then restore.",
        )
    progress(f"checking {len(info.volumes)} volumes of snapshot {name}")
    _verify(path, info)
    with StackLock(directory, stack):
        progress("removing the stack's containers and volumes")
        engine.down(volumes=True)
        # the data was written with the snapshot's passwords: the stack takes them back, rendered as planned
        write_private(directory / SECRETS_FILE, (path / "stack" / SECRETS_FILE).read_text(encoding="utf-8"))
        env = dict(
            ln.split("=", 1) for ln in (directory / ".env").read_text().splitlines() if "=" in ln and ln[0] != "#"
        )
        notebooks = Path(env["DEVSTACK_NOTEBOOKS"].strip("'")) if "DEVSTACK_NOTEBOOKS" in env else None
        render(plan, directory, project, notebooks, start_interval=(directory / START_INTERVAL_FILE).exists())
        engine.create()
        mounts = {m.key: m for m in project_volumes(project)}
        missing = [v["key"] for v in info.volumes if v["key"] not in mounts]
        if missing:
            raise EnvironmentProblem(
                f"the stack as planned has no volume {missing[0]} that snapshot {name!r} holds.",
                "plan the stack with the snapshot's replicas (see its manifest.json), then restore.",
            )
        for v in info.volumes:
            progress(f"restoring {v['key']} ({fmt_mib(max(1, v['bytes'] >> 20))})")
            import_volume(mounts[v["key"]], path / "volumes" / f"{v['key']}.tar")
        progress("starting the stack")
        probes = _start_and_wait(plan, directory, engine)
    return info, probes


def delete(stack: str, name: str) -> SnapshotInfo:
    """Remove one snapshot (a whole one; a cut-short copy is removed by the snapshot that was cut short)."""
    check_name(name)
    directory, _, _ = open_stack(stack)
    path = snapshots_dir(directory) / name
    info = _read(path) if path.is_dir() else None
    if info is None:
        known = ", ".join(s.name for s in list_snapshots(stack)) or "none yet"
        raise UsageError(f"stack {stack!r} has no snapshot {name!r} (snapshots: {known}).", "pick one of them.")
    shutil.rmtree(path)
    return info


def parse_every(text: str) -> int:
    """`--every 6h` in seconds (s, m, h or d)."""
    m = re.fullmatch(r"([1-9][0-9]*)([smhd])", text.strip())
    if not m:
        raise UsageError(f"--every {text!r} is not a period.", "give a number and s, m, h or d: --every 6h.")
    return int(m[1]) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m[2]]


def prune(stack: str, keep: int) -> list[str]:
    """Remove the oldest scheduled snapshots beyond `keep`; named ones are the user's and stay."""
    directory, _, _ = open_stack(stack)
    auto = [s for s in list_snapshots(stack) if s.name.startswith(AUTO_PREFIX)]
    gone = [s.name for s in auto[keep:]]
    for n in gone:
        shutil.rmtree(snapshots_dir(directory) / n)
    return gone


def schedule(
    stack: str,
    every_s: int,
    keep: int,
    *,
    on_snapshot: Callable[[SnapshotInfo, list[str]], None],
    progress: Callable[[str], None] = lambda s: None,
    sleep: Callable[[float], None] = time.sleep,
    rounds: int | None = None,
) -> None:
    """A snapshot every `every_s` seconds, keeping the newest `keep` scheduled ones, until interrupted."""
    done = 0
    while rounds is None or done < rounds:
        info, _ = take(stack, f"{AUTO_PREFIX}{default_name()}", progress=progress)
        on_snapshot(info, prune(stack, keep))
        done += 1
        if rounds is None or done < rounds:
            sleep(every_s)
