"""A Compose project's named volumes, copied out and in through the Engine API: `GET /containers/{id}/archive`
and `PUT .../archive` read and write a container's files whether it runs or not, so no helper image (and no tar
inside the service's image, which MinIO's has not) is needed. Snapshots use this on stopped containers, so each
copy is consistent (lifecycle/snapshot.py)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from devstack.runtime.engine.containers import CATALOG_LABEL, PROJECT_LABEL, SERVICE_LABEL
from devstack.runtime.engine.docker import DockerFailed, api_client, engine_error

CHUNK = 1 << 20


@dataclass(frozen=True)
class VolumeMount:
    """A named volume of the project and one container that mounts it."""

    volume: str  # the engine's volume name (<project>_kafka-1-data)
    key: str  # the name Compose gave it in the project (kafka-1-data)
    container: str  # container id
    compose_service: str  # kafka-1
    service: str  # devstack service: kafka
    path: str  # where it is mounted in the container


def project_volumes(project: str) -> list[VolumeMount]:
    """Every named volume of the project's containers (anonymous ones aside: nothing of the stack's keeps data in
    them), once each, in a stable order."""
    try:
        api = api_client(timeout=60)
        found = api.containers(all=True, filters={"label": f"{PROJECT_LABEL}={project}"})
        out: dict[str, VolumeMount] = {}
        for c in sorted(found, key=lambda c: (c.get("Labels") or {}).get(SERVICE_LABEL, "")):
            labels = c.get("Labels") or {}
            for m in api.inspect_container(c["Id"]).get("Mounts") or []:
                if m.get("Type") != "volume" or m["Name"] in out:
                    continue
                vol = api.inspect_volume(m["Name"])
                key = (vol.get("Labels") or {}).get("com.docker.compose.volume")
                if not key:  # anonymous (an image's VOLUME): not the stack's data
                    continue
                out[m["Name"]] = VolumeMount(
                    m["Name"],
                    key,
                    c["Id"],
                    labels.get(SERVICE_LABEL, ""),
                    labels.get(CATALOG_LABEL, ""),
                    m["Destination"],
                )
    except DockerFailed:
        raise
    except Exception as e:
        raise engine_error(e) from None
    return sorted(out.values(), key=lambda v: v.key)


def volume_names(project: str) -> list[str]:
    """The project's named volumes, whether or not a container still mounts them."""
    try:
        found = api_client(timeout=60).volumes(filters={"label": f"{PROJECT_LABEL}={project}"}).get("Volumes") or []
    except Exception as e:
        raise engine_error(e) from None
    return sorted(v["Name"] for v in found)


def export_volume(mount: VolumeMount, out: Path, on_bytes: Callable[[int], None] = lambda n: None) -> tuple[int, str]:
    """The volume's files as a tar at `out` (its root entry the mount point's name); returns (bytes, sha256)."""
    digest, size = hashlib.sha256(), 0
    try:
        stream, _ = api_client(timeout=600).get_archive(mount.container, mount.path, chunk_size=CHUNK)
        with out.open("wb") as f:
            for chunk in stream:
                f.write(chunk)
                digest.update(chunk)
                size += len(chunk)
                on_bytes(size)
    except Exception as e:
        raise engine_error(e) from None
    return size, digest.hexdigest()


def import_volume(mount: VolumeMount, tar: Path) -> None:
    """Unpack a tar from export_volume into the (new, empty) volume, through a container that mounts it."""
    parent = str(PurePosixPath(mount.path).parent)
    try:
        with tar.open("rb") as f:
            if not api_client(timeout=600).put_archive(mount.container, parent, f):
                raise DockerFailed(f"the engine refused to unpack {tar.name} into {mount.compose_service}:{parent}")
    except DockerFailed:
        raise
    except Exception as e:
        raise engine_error(e) from None
