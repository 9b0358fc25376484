"""The registry: every service devstack can run, one module each, in catalog order (the order plans, tables and
rendered files list them in), then the user's add-ons.

Adding a service is one module here (a `SERVICE` built from `base.Service`), its Compose file under compose/,
and its test-bed image. The registry wires what crosses services: the exporters a service declares run inside
the scraping service's memory, with their images among its images.

Add-ons (`addons:` in devstack.yaml, see services/addon.py) join the registry when the override file is read or
a stack's plan.json is loaded, so the planner, render, health and the dashboard see no difference. The registry
is the one mutable thing here: views of it (catalog.CATALOG, SIZERS) read it live.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import replace

from devstack.core.knobs import Sized
from devstack.services import (
    airflow,
    alertmanager,
    clickhouse,
    jupyter,
    kafka,
    minio,
    mlflow,
    postgres,
    prometheus,
    redis,
    seldon,
    spark,
    tls,
)
from devstack.services.base import Service

BUILT_IN: tuple[Service, ...] = (
    kafka.SERVICE,
    spark.SERVICE,
    clickhouse.SERVICE,
    postgres.SERVICE,
    minio.SERVICE,
    redis.SERVICE,
    mlflow.SERVICE,
    airflow.SERVICE,
    jupyter.SERVICE,
    prometheus.SERVICE,
    alertmanager.SERVICE,
    seldon.SERVICE,
    tls.SERVICE,
)


def assemble(services: Iterable[Service]) -> dict[str, Service]:
    """The services by name, the declared exporters handed to the service that scrapes (its spec's exporters and
    images). A name given twice is an error: two modules cannot both own a service."""
    out: dict[str, Service] = {}
    for s in services:
        if s.name in out:
            raise ValueError(f"two services are named {s.name!r}")
        out[s.name] = s
    exporters = tuple(s.exporter for s in out.values() if s.exporter is not None)
    for name, s in out.items():
        if s.scrapes:
            images = {**s.spec.images, **{e.image_key: e.image for e in exporters if e.image is not None}}
            out[name] = replace(s, spec=replace(s.spec, exporters=exporters, images=images))
    return out


SERVICES: dict[str, Service] = assemble(BUILT_IN)
BUILT_IN_NAMES = tuple(SERVICES)


def register_addons(addons: Iterable[Service], *, override: bool = True) -> None:
    """Add the user's add-on services. `override`: a declaration read now from devstack.yaml replaces one of the
    same name; a stack's plan.json (override=False) only adds those this process has not read from devstack.yaml,
    so a stack planned before keeps its add-ons while a changed declaration wins. A name of a built-in service is
    refused by the add-on's validation before it gets here."""
    for s in addons:
        if s.name in BUILT_IN_NAMES:
            raise ValueError(f"{s.name!r} is a built-in service")
        if override or s.name not in SERVICES:
            SERVICES[s.name] = s


class _Sizers(Mapping[str, Callable[[int, int], Sized]]):
    """Each service's sizer, read live from the registry (add-ons included)."""

    def __getitem__(self, name: str) -> Callable[[int, int], Sized]:
        return SERVICES[name].size

    def __iter__(self) -> Iterator[str]:
        return iter(SERVICES)

    def __len__(self) -> int:
        return len(SERVICES)


SIZERS: Mapping[str, Callable[[int, int], Sized]] = _Sizers()
