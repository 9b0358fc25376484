"""The service catalog: every service of the platform, as data, read from the service registry.

One entry per service a user selects (its `SPEC` in `devstack/services/<name>.py`). An entry says which image
runs it (pinned to a release that publishes linux/arm64), which ports it publishes, what it needs, which group
of the seed's budget it belongs to, and its memory floor / seed target / ceiling.

Image pins: each tag is a published upstream release whose repository is multi-arch (linux/amd64 and
linux/arm64), as researched in DESIGN.md ("Service facts"); the release numbers were checked against the
package registries this project can reach (PyPI for mlflow/pyspark/apache-airflow/jupyterlab, Maven Central
for Kafka), since no container registry answers from these machines. The exceptions, Seldon's images, are
recorded with the platforms they really publish so `doctor` can warn about emulation on Apple Silicon.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from devstack.services import BUILT_IN_NAMES, SERVICES
from devstack.services.base import (
    AMD64_ONLY,
    MULTI_ARCH,
    ONE_SHOT_SUFFIX,
    SEED_GROUP_SHARE_MIB,
    SEED_PEAK_MIB,
    Exporter,
    Group,
    Image,
    Memory,
    Port,
    Runtime,
    ServiceSpec,
    is_one_shot,
)

__all__ = [
    "AMD64_ONLY",
    "CATALOG",
    "MULTI_ARCH",
    "ONE_SHOT_SUFFIX",
    "SEED_GROUP_SHARE_MIB",
    "SEED_PEAK_MIB",
    "SERVICE_NAMES",
    "Exporter",
    "Group",
    "Image",
    "Memory",
    "Port",
    "Runtime",
    "ServiceSpec",
    "closure",
    "dependents",
    "exporters_for",
    "is_one_shot",
    "upstream_platforms",
]


class _Catalog(Mapping[str, ServiceSpec]):
    """Every service's catalog entry, read live from the registry, so an add-on is in it once registered."""

    def __getitem__(self, name: str) -> ServiceSpec:
        return SERVICES[name].spec

    def __iter__(self) -> Iterator[str]:
        return iter(SERVICES)

    def __len__(self) -> int:
        return len(SERVICES)


CATALOG: Mapping[str, ServiceSpec] = _Catalog()

# the built-in services, in catalog order (add-ons come after them in CATALOG)
SERVICE_NAMES = BUILT_IN_NAMES


def upstream_platforms(service: str) -> dict[str, tuple[str, ...]]:
    """Per image key of `service`, the platforms where devstack runs the publisher's own image: none for an image
    devstack always builds itself, so every architecture gets devstack's build of it."""
    return {k: () if i.devstack_build else i.platforms for k, i in CATALOG[service].images.items()}


def closure(names: list[str] | tuple[str, ...]) -> list[str]:
    """The services named plus everything they depend on, in catalog order (stable output)."""
    wanted: set[str] = set()
    stack = list(names)
    while stack:
        n = stack.pop()
        if n in wanted:
            continue
        wanted.add(n)
        stack.extend(CATALOG[n].depends_on)
    return [n for n in CATALOG if n in wanted]


def exporters_for(name: str, among: list[str] | tuple[str, ...]) -> tuple[Exporter, ...]:
    """The exporters `name` runs in a plan of `among`: those whose watched service is planned too."""
    return tuple(e for e in CATALOG[name].exporters if e.watches in among)


def dependents(name: str, among: list[str] | tuple[str, ...]) -> list[str]:
    """Services among `among` that need `name`."""
    return [n for n in among if name in CATALOG[n].depends_on]
