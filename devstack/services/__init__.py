"""The registry: every service devstack can run, one module each, in catalog order (the order plans, tables and
rendered files list them in).

Adding a service is one module here (a `SERVICE` built from `base.Service`), its Compose file under compose/,
and its test-bed image. The registry wires what crosses services: the exporters a service declares run inside
the scraping service's memory, with their images among its images.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace

from devstack.knobs import Sized
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
SIZERS: dict[str, Callable[[int, int], Sized]] = {n: s.size for n, s in SERVICES.items()}
