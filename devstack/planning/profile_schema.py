"""The profile and override files' schema: pydantic models, and a YAML loader that remembers the line of every
key, so an error names the file, the line and the field and says what is allowed, instead of pydantic's nested
report. profiles.py calls this only for a file it has not validated before (its cache), so `plan` over unchanged
files imports none of it.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError, field_validator, model_validator

from devstack.core.errors import ConfigError, UsageError
from devstack.core.units import parse_size
from devstack.planning.catalog import CATALOG, SERVICE_NAMES
from devstack.planning.settings import DEFAULT_BIND, OverrideSettings, ProfileSettings, ServiceSettings
from devstack.planning.stack_names import STACK_NAME_PATTERN
from devstack.services import BUILT_IN_NAMES, SERVICES, register_addons
from devstack.services.addon import AddonDecl, addon_service
from devstack.services.base import Group

_IMAGE_REF = re.compile(r"^[a-z0-9][a-z0-9._\-/:@]*$", re.IGNORECASE)


# ---------------------------------------------------------------- YAML with line numbers


class LineDict(dict[Any, Any]):
    """A mapping from YAML that knows the line of itself and of each of its keys."""

    line: int
    key_lines: dict[Any, int]


class _LineLoader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    out = LineDict()
    out.line = node.start_mark.line + 1
    out.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in out:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[key] = key_node.start_mark.line + 1
    return out


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _parse_yaml(text: str, path: Path) -> Any:
    try:
        return yaml.load(text, Loader=_LineLoader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else None
        problem = (e.problem or e.context or "invalid YAML").strip()
        raise ConfigError(str(path), line, None, f"broken YAML: {problem}", "fix the YAML syntax there.") from None
    except yaml.YAMLError as e:
        raise ConfigError(str(path), None, None, f"broken YAML: {e}", "fix the YAML syntax.") from None


def _line_of(data: Any, loc: tuple[Any, ...]) -> int | None:
    line = getattr(data, "line", None)
    cur = data
    for part in loc:
        if isinstance(cur, LineDict) and part in cur:
            line = cur.key_lines.get(part, line)
            cur = cur[part]
        elif isinstance(cur, list) and isinstance(part, int) and 0 <= part < len(cur):
            cur = cur[part]
            line = getattr(cur, "line", line)
        else:
            break
    return line


# ---------------------------------------------------------------- models


def _size(v: Any, what: str) -> int:
    try:
        return parse_size(v, what)
    except UsageError as e:
        raise ValueError(f"{e.cause} Use a number with a unit, for example 4g or 512m") from None


class ServiceSettingsModel(BaseModel):
    """What a profile or the override may set for one service."""

    model_config = ConfigDict(extra="forbid")

    memory: int | None = Field(default=None, description="memory limit per replica, e.g. 4g")
    replicas: int | None = Field(default=None, ge=1, le=9)
    image: str | None = None
    images: dict[str, str] | None = None
    ports: dict[str, int] | None = None

    @field_validator("memory", mode="before")
    @classmethod
    def _memory(cls, v: Any) -> int | None:
        return None if v is None else _size(v, "memory")

    @field_validator("image")
    @classmethod
    def _image(cls, v: str | None) -> str | None:
        if v is not None and not _IMAGE_REF.match(v):
            raise ValueError(f"{v!r} is not an image reference (like registry.local/apache/kafka:4.1.1)")
        return v

    @field_validator("images")
    @classmethod
    def _images(cls, v: dict[str, str] | None) -> dict[str, str] | None:
        for ref in (v or {}).values():
            cls._image(ref)
        return v

    @field_validator("ports")
    @classmethod
    def _ports(cls, v: dict[str, int] | None) -> dict[str, int] | None:
        for name, port in (v or {}).items():
            if not 1 <= port <= 65535:
                raise ValueError(f"port {name}={port} is outside 1-65535")
            if port < 1024:
                raise ValueError(f"port {name}={port} is privileged (below 1024)")
        return v


def _check_service_names(names: Any) -> None:
    for name in names:
        if name not in CATALOG:
            raise ValueError(f"unknown service {name!r}; known services: {', '.join(SERVICE_NAMES)}")


class _Services(BaseModel):
    """Shared: a `services` mapping keyed by catalog name, each with settings that fit that service."""

    model_config = ConfigDict(extra="forbid")

    services: dict[str, ServiceSettingsModel] = Field(default_factory=dict)

    @field_validator("services", mode="before")
    @classmethod
    def _services(cls, v: Any) -> Any:
        if v is None:
            return {}
        if isinstance(v, list):
            if not all(isinstance(n, str) for n in v):
                raise ValueError("a list of services must hold service names only")
            v = {n: {} for n in v}
        if isinstance(v, dict):
            _check_service_names(v)
            return {k: ({} if s is None else s) for k, s in v.items()}
        return v

    @model_validator(mode="after")
    def _fits_catalog(self) -> _Services:
        # "field|problem|fix": _validate() splits it, so the error names the exact field and its line
        for name, s in self.services.items():
            spec = CATALOG[name]
            f = f"services.{name}"
            if s.replicas is not None and not spec.min_replicas <= s.replicas <= spec.max_replicas:
                raise ValueError(
                    f"{f}.replicas|{name} runs {spec.min_replicas}-{spec.max_replicas} replicas, not {s.replicas}"
                    f"|set replicas between {spec.min_replicas} and {spec.max_replicas}."
                )
            if s.memory is not None and not spec.memory.floor <= s.memory <= spec.memory.ceiling:
                raise ValueError(
                    f"{f}.memory|{name} needs {spec.memory.floor}m to {spec.memory.ceiling}m per replica, "
                    f"not {s.memory}m|set memory within that range, or leave it out and let the planner size it."
                )
            known_ports = ", ".join(p.name for p in spec.ports)
            for p in s.ports or {}:
                if p not in {x.name for x in spec.ports}:
                    raise ValueError(f"{f}.ports.{p}|{name} has ports {known_ports}|use one of: {known_ports}.")
            known_images = ", ".join(spec.images)
            for k in s.images or {}:
                if k not in spec.images:
                    raise ValueError(f"{f}.images.{k}|{name} has images {known_images}|use one of: {known_images}.")
            if s.image is not None and len(spec.images) != 1:
                raise ValueError(
                    f"{f}.image|{name} runs several images|set images: {{{known_images}}} instead of image."
                )
        return self


class ProfileModel(_Services):
    description: str = ""
    budget: int | None = None

    @field_validator("budget", mode="before")
    @classmethod
    def _budget(cls, v: Any) -> int | None:
        return None if v is None else _size(v, "budget")

    @model_validator(mode="after")
    def _not_empty(self) -> ProfileModel:
        if not self.services:
            raise ValueError("a profile must name at least one service")
        return self


ADDON_NAME_PATTERN = r"^[a-z][a-z0-9-]{0,30}$"
_PORT_NAME = re.compile(r"^[a-z][a-z0-9-]{0,20}$")
_GROUPS = tuple(g.value for g in Group)


class AddonMemory(BaseModel):
    model_config = ConfigDict(extra="forbid")

    floor: int
    target: int | None = None
    ceiling: int | None = None

    @field_validator("floor", "target", "ceiling", mode="before")
    @classmethod
    def _mem(cls, v: Any) -> int | None:
        return None if v is None else _size(v, "memory")

    @model_validator(mode="after")
    def _ordered(self) -> AddonMemory:
        if self.floor < 32:
            raise ValueError(f"floor {self.floor}m is below 32m, too little for any container to start")
        target = self.target if self.target is not None else self.floor
        if target < self.floor:
            raise ValueError(f"target {target}m is below floor {self.floor}m")
        if self.ceiling is not None and self.ceiling < target:
            raise ValueError(f"ceiling {self.ceiling}m is below target {target}m")
        return self


class AddonHealth(BaseModel):
    """How devstack knows the add-on is up: an HTTP GET on one of its ports that answers 2xx, or a shell command
    inside its container (its Compose healthcheck)."""

    model_config = ConfigDict(extra="forbid")

    port: str | None = None
    path: str = "/"
    command: str | None = None
    deadline: int = Field(default=120, ge=10, le=1800, description="seconds to healthy")

    @model_validator(mode="after")
    def _one(self) -> AddonHealth:
        if (self.port is None) == (self.command is None):
            raise ValueError("give either port (an HTTP check on that port) or command (run in the container)")
        if not self.path.startswith("/"):
            raise ValueError(f"path {self.path!r} must start with /")
        return self


class AddonMetrics(BaseModel):
    model_config = ConfigDict(extra="forbid")

    port: str
    path: str = "/metrics"


class Addon(BaseModel):
    """A service of the user's own, declared under `addons:` in devstack.yaml (services/addon.py)."""

    model_config = ConfigDict(extra="forbid")

    image: str
    title: str = ""
    group: str = "orchestration"
    ports: dict[str, int | str] = Field(default_factory=dict)
    memory: AddonMemory
    health: AddonHealth
    env: dict[str, str | int | float | bool] = Field(default_factory=dict)
    command: list[str] | None = None
    volumes: list[str] = Field(default_factory=list)
    depends_on: list[str] = Field(default_factory=list)
    metrics: AddonMetrics | None = None

    @field_validator("image")
    @classmethod
    def _image(cls, v: str) -> str:
        return str(ServiceSettingsModel._image(v))

    @field_validator("group")
    @classmethod
    def _group(cls, v: str) -> str:
        if v not in _GROUPS:
            raise ValueError(f"group {v!r} is not one of the seed's: {', '.join(_GROUPS)}")
        return v

    @field_validator("ports")
    @classmethod
    def _ports(cls, v: dict[str, int | str]) -> dict[str, int | str]:
        for name, port in v.items():
            if not _PORT_NAME.match(name):
                raise ValueError(f"port name {name!r}: use lower-case letters, digits and '-'")
            _addon_port(name, port)
        return v

    @field_validator("volumes")
    @classmethod
    def _volumes(cls, v: list[str]) -> list[str]:
        for path in v:
            if not path.startswith("/"):
                raise ValueError(f"volume {path!r} must be an absolute path inside the container")
        return v

    @model_validator(mode="after")
    def _ports_named(self) -> Addon:
        names = ", ".join(self.ports) or "none"
        if self.health.port is not None and self.health.port not in self.ports:
            raise ValueError(f"health.port {self.health.port!r} is not one of its ports ({names})")
        if self.metrics is not None and self.metrics.port not in self.ports:
            raise ValueError(f"metrics.port {self.metrics.port!r} is not one of its ports ({names})")
        return self

    def declaration(self) -> AddonDecl:
        target = self.memory.target if self.memory.target is not None else self.memory.floor
        return AddonDecl(
            image=self.image,
            ports={name: _addon_port(name, port) for name, port in self.ports.items()},
            floor_mib=self.memory.floor,
            target_mib=target,
            ceiling_mib=self.memory.ceiling if self.memory.ceiling is not None else target,
            group=self.group,
            title=self.title,
            health_port=self.health.port,
            health_path=self.health.path,
            health_command=self.health.command,
            deadline_s=self.health.deadline,
            env={k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in self.env.items()},
            command=tuple(self.command or ()),
            volumes=tuple(self.volumes),
            depends_on=tuple(self.depends_on),
            metrics_port=self.metrics.port if self.metrics else None,
            metrics_path=self.metrics.path if self.metrics else "/metrics",
        )


def _addon_port(name: str, port: int | str) -> tuple[int, int]:
    """(container, host) from `8080` (the same on the host) or `"18080:8080"` (host:container)."""
    host_s, _, container_s = str(port).rpartition(":")
    try:
        container = int(container_s)
        host = int(host_s) if host_s else container
    except ValueError:
        raise ValueError(f'port {name}={port!r}: give a port number, or "host:container" numbers') from None
    for p in (container, host):
        if not 1 <= p <= 65535:
            raise ValueError(f"port {name}={p} is outside 1-65535")
    if host < 1024:
        raise ValueError(f'port {name}: host port {host} is privileged (below 1024); publish it as "18080:{container}"')
    return container, host


class _Addons(BaseModel):
    """The `addons:` part of devstack.yaml, read first: the services it declares are known to the rest."""

    model_config = ConfigDict(extra="ignore")

    addons: dict[str, Addon] = Field(default_factory=dict)

    @field_validator("addons", mode="before")
    @classmethod
    def _names(cls, v: Any) -> Any:
        if v is None:
            return {}
        if isinstance(v, dict):
            for name in v:
                if not isinstance(name, str) or not re.fullmatch(ADDON_NAME_PATTERN, name):
                    raise ValueError(
                        f"addons.{name}|{name!r} is not an add-on name|use 1-31 lower-case letters, digits and '-', "
                        "starting with a letter."
                    )
                if name in BUILT_IN_NAMES:
                    raise ValueError(
                        f"addons.{name}|{name!r} is a built-in service|give the add-on another name, or set the "
                        f"built-in one under services.{name}."
                    )
        return v

    @model_validator(mode="after")
    def _dependencies(self) -> _Addons:
        known = set(BUILT_IN_NAMES) | set(self.addons)
        for name, a in self.addons.items():
            for dep in a.depends_on:
                if dep not in known:
                    raise ValueError(
                        f"addons.{name}.depends_on|unknown service {dep!r}|use a built-in service or another add-on."
                    )
        return self


_DURATION = re.compile(r"^(0|[1-9][0-9]*)(s|m|h)$")  # 0s: fire at the first evaluation that sees it


class AlertSetting(BaseModel):
    """What devstack.yaml may change of one alerting rule a service declares (services' AlertSpec)."""

    model_config = ConfigDict(extra="forbid")

    threshold: float | None = Field(default=None, gt=0)
    wait: str | None = Field(default=None, alias="for")
    enabled: bool = True

    @field_validator("wait", mode="before")
    @classmethod
    def _duration(cls, v: Any) -> str | None:
        if isinstance(v, int | float) and not isinstance(v, bool):
            raise ValueError(f"{v} is not a duration: give its unit, as in {v}s or {v}m")
        if v is not None and (not isinstance(v, str) or not _DURATION.match(v)):
            raise ValueError(f"{v!r} is not a duration: use a number and s, m or h (30s, 5m, 1h)")
        return v

    def setting(self) -> dict[str, Any]:
        out: dict[str, Any] = {"enabled": self.enabled}
        if self.threshold is not None:
            out["threshold"] = self.threshold
        if self.wait is not None:
            out["for"] = self.wait
        return out


def _alert_specs() -> dict[str, Any]:
    return {a.name: a for s in SERVICES.values() for a in s.alerts}


class OverrideModel(_Services):
    """The user's `devstack.yaml`: budget, profile, bind address, per-service settings, add-on services, alert
    thresholds."""

    addons: dict[str, Addon] = Field(default_factory=dict)
    alerts: dict[str, AlertSetting] = Field(default_factory=dict)

    @field_validator("alerts", mode="before")
    @classmethod
    def _alert_names(cls, v: Any) -> Any:
        if v is None:
            return {}
        if isinstance(v, dict):
            specs = _alert_specs()
            for name, setting in v.items():
                if name not in specs:
                    raise ValueError(f"alerts.{name}|unknown alert {name!r}|use one of: {', '.join(sorted(specs))}.")
                if isinstance(setting, dict) and "threshold" in setting and specs[name].threshold is None:
                    raise ValueError(
                        f"alerts.{name}.threshold|{name} takes no threshold (its rule is `{specs[name].expr}`)"
                        "|set only for or enabled for it."
                    )
        return v

    profile: str | None = None
    budget: int | None = None
    bind: str = DEFAULT_BIND
    stack: str | None = Field(default=None, pattern=STACK_NAME_PATTERN)
    tls: StrictBool = False  # the TLS proxy joins whatever services run (services/tls.py)

    @field_validator("budget", mode="before")
    @classmethod
    def _budget(cls, v: Any) -> int | None:
        return None if v is None else _size(v, "budget")

    @field_validator("bind")
    @classmethod
    def _bind(cls, v: str) -> str:
        try:
            ipaddress.ip_address(v)
        except ValueError:
            raise ValueError(f"{v!r} is not an IP address (use 127.0.0.1)") from None
        return v


# ---------------------------------------------------------------- loading


_FIX_BY_TYPE = {
    "extra_forbidden": "remove it or fix its spelling; allowed here: {allowed}.",
    "int_parsing": "give a whole number.",
    "int_type": "give a whole number.",
    "string_type": "give a string.",
    "dict_type": "give a mapping (key: value lines).",
    "model_type": "give a mapping (key: value lines).",
    "greater_than_equal": "give a larger number.",
    "less_than_equal": "give a smaller number.",
    "string_pattern_mismatch": "use lower-case letters, digits, '-' and '_'.",
    "missing": "add it.",
}
# the generic fix of a field without a fix of its own, by the top-level key it is under
_FIX_BY_SECTION = {
    "addons": "see README.md, section Add-on services, for a declaration to start from.",
    "alerts": "see README.md, section Alerts, for each rule and what its threshold counts.",
}


def _allowed_fields(model: type[BaseModel], loc: tuple[Any, ...]) -> str:
    if len(loc) >= 3 and loc[0] == "services":
        return ", ".join(ServiceSettingsModel.model_fields)
    if len(loc) == 3 and loc[0] == "addons":
        return ", ".join(Addon.model_fields)
    if len(loc) == 3 and loc[0] == "alerts":
        return "threshold, for, enabled"
    if len(loc) == 4 and loc[0] == "addons" and loc[2] in ("memory", "health", "metrics"):
        inner: dict[str, type[BaseModel]] = {"memory": AddonMemory, "health": AddonHealth, "metrics": AddonMetrics}
        return ", ".join(inner[str(loc[2])].model_fields)
    return ", ".join(model.model_fields)


def _validate(model: type[BaseModel], data: Any, path: Path) -> Any:
    if data is None:
        data = LineDict()
        data.line, data.key_lines = 1, {}
    if not isinstance(data, dict):
        raise ConfigError(
            str(path),
            1,
            None,
            "the top level must be a mapping (key: value lines).",
            f"start the file with keys such as: {', '.join(model.model_fields)}.",
        )
    try:
        return model.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        loc = tuple(p for p in err["loc"] if not str(p).startswith("function-"))
        field = ".".join(str(p) for p in loc) or None
        msg = err["msg"].removeprefix("Value error, ")
        section = _FIX_BY_SECTION.get(str(loc[0]) if loc else "", "see README.md, section Profiles and overrides.")
        fix = _FIX_BY_TYPE.get(err["type"], section)
        if err["type"] == "missing" and loc and loc[0] == "addons":
            fix = "add it: an add-on needs image, memory (floor) and health (port or command)."
        fix = fix.format(allowed=_allowed_fields(model, loc))
        if msg.count("|") == 2:
            field, msg, fix = msg.split("|")
            loc = tuple(field.split("."))
        return_line = _line_of(data, loc)
        raise ConfigError(str(path), return_line, field, msg, fix) from None


# ---------------------------------------------------------------- the settings a valid file gives


def _settings(m: ServiceSettingsModel) -> ServiceSettings:
    return ServiceSettings(**m.model_dump())


def validate_profile(text: str, path: Path) -> ProfileSettings:
    p: ProfileModel = _validate(ProfileModel, _parse_yaml(text, path), path)
    return ProfileSettings(
        services={n: _settings(s) for n, s in p.services.items()}, description=p.description, budget=p.budget
    )


def validate_override(text: str, path: Path) -> OverrideSettings:
    """devstack.yaml's settings. Its add-ons are registered first: once they are, `services:`, --services and the
    profiles may name them."""
    data = _parse_yaml(text, path)
    addons = {name: a.declaration() for name, a in _validate(_Addons, data, path).addons.items()}
    register_addons(addon_service(name, d) for name, d in addons.items())
    o: OverrideModel = _validate(OverrideModel, data, path)
    return OverrideSettings(
        services={n: _settings(s) for n, s in o.services.items()},
        addons=addons,
        alerts={name: a.setting() for name, a in o.alerts.items()},
        profile=o.profile,
        budget=o.budget,
        bind=o.bind,
        stack=o.stack,
        tls=o.tls,
    )
