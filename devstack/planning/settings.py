"""What a profile and the user's override file say once validated: plain frozen data that the planner reads.

profile_schema.py validates the YAML with pydantic and builds these; profiles.py keeps them, as JSON, in a cache
keyed by the files' bytes, so a `plan` over unchanged files imports neither pydantic nor YAML (they were half of
its start-up, issue 14.7). Plain dataclasses rather than the pydantic models themselves for that reason: a
cached profile must come back without the library that validated it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from devstack.core.units import parse_size
from devstack.services.addon import AddonDecl

DEFAULT_BIND = "127.0.0.1"


@dataclass(frozen=True)
class ServiceSettings:
    """What a profile or the override sets for one service; None leaves it to the planner."""

    memory: int | None = None  # MiB per replica; "4g" is read as a size
    replicas: int | None = None
    image: str | None = None
    images: Mapping[str, str] | None = None
    ports: Mapping[str, int] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.memory, str):
            object.__setattr__(self, "memory", parse_size(self.memory, "memory"))

    def under(self, top: ServiceSettings | None) -> ServiceSettings:
        """These settings with every value `top` sets put over them (the override over the profile)."""
        if top is None:
            return self
        return replace(self, **{k: v for k, v in asdict(top).items() if v is not None})

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ServiceSettings:
        return cls(**d)


@dataclass(frozen=True)
class ProfileSettings:
    """One profile (profiles/*.yaml or the user's own)."""

    services: Mapping[str, ServiceSettings]
    description: str = ""
    budget: int | None = None  # MiB

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ProfileSettings:
        services = {n: ServiceSettings.from_dict(s) for n, s in d["services"].items()}
        return cls(services=services, description=d["description"], budget=d["budget"])


@dataclass(frozen=True)
class OverrideSettings:
    """The user's devstack.yaml: budget, profile, bind address, per-service settings, add-ons, alert settings."""

    services: Mapping[str, ServiceSettings] = field(default_factory=dict)
    addons: Mapping[str, AddonDecl] = field(default_factory=dict)
    alerts: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # rule -> {enabled, threshold?, for?}
    profile: str | None = None
    budget: int | None = None  # MiB
    bind: str = DEFAULT_BIND
    stack: str | None = None
    tls: bool = False  # `tls: true`: the TLS proxy runs with whichever services do

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # the add-ons' declarations too, as AddonDecl.to_dict gives them

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> OverrideSettings:
        return cls(
            services={n: ServiceSettings.from_dict(s) for n, s in d["services"].items()},
            addons={n: AddonDecl.from_dict(a) for n, a in d["addons"].items()},
            alerts={n: dict(a) for n, a in d["alerts"].items()},
            profile=d["profile"],
            budget=d["budget"],
            bind=d["bind"],
            stack=d["stack"],
            tls=d.get("tls", False),
        )
