"""The images devstack builds itself and pushes to the stack's k3d build registry (`k3d-<stack>-builds:<port>`).

Seldon publishes amd64 only; on another architecture (Apple Silicon: arm64) the cluster runs devstack's own
builds of the parts that have a recipe under `k3d/images/<name>/Dockerfile` (MLServer with its mlflow runtime,
the rclone storage initializer), named as `seldon.cluster_images` names them. A build is pushed through the
registry's host port (`localhost:<port>/devstack/...`, which Docker trusts without TLS); the cluster pulls the
same repository as `k3d-<stack>-builds:<port>/devstack/...` on the k3d network.

Each pushed image carries the label `dev.devstack.recipe` = a sha256 over its recipe's files, the platform and the
build args: an image already in the registry with the same label is not built again ("already pushed").
Builds use buildx where it is installed (Docker Desktop: any platform, pushed by buildx), else the classic
builder for the engine's own platform, then `docker push`.
"""

from __future__ import annotations

import hashlib
import json
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devstack.core.errors import EnvironmentProblem, UsageError

if TYPE_CHECKING:
    from devstack.planning.plan import Plan

# catalog image key (services.seldon.images) -> recipe directory under k3d/images/
RECIPES: dict[str, str] = {"mlserver": "mlserver", "storage_initializer": "storage-initializer"}
RECIPE_LABEL = "dev.devstack.recipe"
MANIFEST_TYPES = ", ".join(
    (
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
)

Progress = Callable[[str], None]


class RegistryUnreachable(EnvironmentProblem):
    pass


class BuildFailed(EnvironmentProblem):
    pass


def recipes_dir() -> Path:
    from devstack.core.resources import k3d_dir

    return k3d_dir() / "images"


@dataclass(frozen=True)
class Target:
    """One image to build: its recipe, the ref the cluster pulls, the ref pushed through the host port."""

    key: str
    recipe: Path
    ref: str  # k3d-<stack>-builds:<port>/devstack/mlserver:1.7.1 (what the SeldonDeployment names)
    push_ref: str  # localhost:<port>/devstack/mlserver:1.7.1
    platform: str  # linux/arm64
    digest: str = ""  # the recipe hash (label value)

    @property
    def repository(self) -> str:
        return self.push_ref.split("/", 1)[1].rsplit(":", 1)[0]

    @property
    def tag(self) -> str:
        return self.push_ref.rsplit(":", 1)[1]


@dataclass
class Result:
    key: str
    ref: str
    push_ref: str
    platform: str
    status: str  # "built" | "already pushed"
    digest: str
    build_s: float = 0.0
    push_s: float = 0.0
    size_bytes: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def needed(platforms: dict[str, tuple[str, ...]], arch: str, force: bool = False) -> list[str]:
    """The catalog image keys devstack must build for `arch`: those with a recipe whose upstream has no build for
    it (or every recipe when forced). Pure."""
    return [k for k in RECIPES if k in platforms and (force or f"linux/{arch}" not in platforms[k])]


def recipe_hash(recipe: Path, platform: str, build_args: dict[str, str] | None = None) -> str:
    """sha256 over the recipe's files (path and content, dotfiles excluded), the platform and the build args."""
    h = hashlib.sha256()
    for p in sorted(recipe.rglob("*")):
        rel = p.relative_to(recipe).as_posix()
        if p.is_file() and not any(part.startswith(".") for part in rel.split("/")):
            h.update(rel.encode() + b"\0" + p.read_bytes() + b"\0")
    h.update(platform.encode() + b"\0")
    for k, v in sorted((build_args or {}).items()):
        h.update(f"{k}={v}\0".encode())
    return h.hexdigest()[:16]


def host_ref(ref: str, port: int) -> str:
    """The cluster-side ref (`k3d-x-builds:5501/devstack/mlserver:1.7.1`) as pushed from the host."""
    _, _, rest = ref.partition("/")
    return f"localhost:{port}/{rest}"


def targets(
    images: dict[str, str],
    platforms: dict[str, tuple[str, ...]],
    arch: str,
    registry: str,
    port: int,
    *,
    force: bool = False,
    build_args: dict[str, dict[str, str]] | None = None,
    recipes: Path | None = None,
) -> list[Target]:
    """What to build for a cluster on `arch` whose build registry is `registry` (k3d-<stack>-builds:<port>). Pure
    but for reading the recipes' files (for their hash)."""
    from devstack.planning.seldon import cluster_images

    keys = needed(platforms, arch, force)
    # forced: pretend upstream has no build for arch, so cluster_images names our registry for each
    plats = {k: (() if k in keys else v) for k, v in platforms.items()}
    refs = cluster_images({k: images[k] for k in keys if k in images}, plats, arch, registry)
    base = recipes or recipes_dir()
    platform = f"linux/{arch}"
    out = []
    for k, ref in refs.items():
        recipe = base / RECIPES[k]
        if not (recipe / "Dockerfile").is_file():
            raise UsageError(f"no recipe for {k}: {recipe}/Dockerfile is missing.", "reinstall devstack.")
        args = (build_args or {}).get(k, {})
        out.append(Target(k, recipe, ref, host_ref(ref, port), platform, recipe_hash(recipe, platform, args)))
    return out


# ---------------------------------------------------------------- the registry's HTTP API (v2)


class Registry:
    """Docker's distribution HTTP API on the build registry's host port."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 10):
        self.base = f"http://{host}:{port}"
        self.port = port
        self.timeout = timeout

    def _get(self, path: str, accept: str = "") -> tuple[dict[str, Any], dict[str, str]]:
        req = urllib.request.Request(self.base + path, headers={"Accept": accept} if accept else {})
        with urllib.request.urlopen(req, timeout=self.timeout) as r:
            return json.loads(r.read() or b"{}"), dict(r.headers)

    def ping(self) -> None:
        try:
            self._get("/v2/")
        except (OSError, ValueError) as e:
            raise RegistryUnreachable(
                f"the build registry on 127.0.0.1:{self.port} does not answer ({_reason(e)}).",
                "start the stack's cluster (`devstack up`; it creates the registry), or check `k3d registry list`.",
            ) from None

    def catalog(self) -> list[str]:
        return list(self._get("/v2/_catalog?n=1000")[0].get("repositories") or [])

    def tags(self, repo: str) -> list[str]:
        try:
            return list(self._get(f"/v2/{repo}/tags/list")[0].get("tags") or [])
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return []
            raise

    def manifest(self, repo: str, ref: str) -> dict[str, Any] | None:
        try:
            return self._get(f"/v2/{repo}/manifests/{ref}", MANIFEST_TYPES)[0]
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return None
            raise

    def labels(self, repo: str, tag: str, platform: str) -> dict[str, str] | None:
        """The image config's labels of repo:tag for platform (None: no such image), through an index if any."""
        m = self.manifest(repo, tag)
        if m is None:
            return None
        if "manifests" in m:  # an index (buildx): the platform's manifest
            os_, _, arch = platform.partition("/")
            match = [
                d
                for d in m["manifests"]
                if d.get("platform", {}).get("os") == os_ and d.get("platform", {}).get("architecture") == arch
            ]
            if not match:
                return None
            m = self.manifest(repo, match[0]["digest"]) or {}
        digest = m.get("config", {}).get("digest")
        if not digest:
            return None
        config, _ = self._get(f"/v2/{repo}/blobs/{digest}")
        if config.get("architecture") and f"{config.get('os')}/{config['architecture']}" != platform:
            return None
        return dict((config.get("config") or {}).get("Labels") or {})

    def listing(self) -> dict[str, list[str]]:
        return {repo: sorted(self.tags(repo)) for repo in sorted(self.catalog())}


def _reason(e: BaseException) -> str:
    r = getattr(e, "reason", None)
    return str(r if r is not None else e)


# ---------------------------------------------------------------- build and push


def buildx_available(docker: Any) -> bool:
    try:
        return bool(docker.buildx.is_installed())
    except Exception:  # `docker buildx` unknown: exits non-zero
        return False


def _native_platform(docker: Any) -> str:
    from devstack.runtime.host import normalize_arch

    return f"linux/{normalize_arch(docker.info().architecture or '')}"


def _stream_build(lines: Iterable[str], key: str, progress: Progress, tail: deque[str]) -> None:
    for line in lines:
        line = line.rstrip()
        if not line:
            continue
        tail.append(line)
        if line.startswith("Step ") or (line.startswith("#") and " DONE" not in line and "[" in line):
            progress(f"{key}: {line[:150]}")


def build_one(
    t: Target, docker: Any, *, build_args: dict[str, str], use_buildx: bool, progress: Progress, push: bool = True
) -> tuple[float, float]:
    """Build one target and push it (`push`), or keep it in the local engine; returns (build s, push s)."""
    from devstack.runtime.engine.docker import DockerFailed, docker_errors, stream_command

    labels = {RECIPE_LABEL: t.digest, "org.opencontainers.image.title": f"devstack {t.key}"}
    tail: deque[str] = deque(maxlen=12)
    t0 = time.monotonic()
    try:
        with docker_errors():  # the build's failure, in Docker's words
            if use_buildx:
                logs = docker.buildx.build(
                    t.recipe,
                    platforms=[t.platform],
                    build_args=build_args,
                    labels=labels,
                    tags=[t.push_ref],
                    push=push,
                    load=not push,
                    provenance=False,
                    progress="plain",
                    stream_logs=True,
                )
                _stream_build(logs, t.key, progress, tail)
                return time.monotonic() - t0, 0.0
            native = _native_platform(docker)
            if t.platform != native:
                raise BuildFailed(
                    f"{t.key} is needed for {t.platform} but this engine builds {native} only (no buildx).",
                    "install Docker's buildx plugin (Docker Desktop has it), or build on a machine of that platform.",
                )
            cmd = [*docker.docker_cmd, "build", "--tag", t.push_ref]
            for k, v in {**build_args}.items():
                cmd += ["--build-arg", f"{k}={v}"]
            for k, v in labels.items():
                cmd += ["--label", f"{k}={v}"]
            cmd.append(str(t.recipe))
            _stream_build(stream_command(cmd, env={"DOCKER_BUILDKIT": "0"}), t.key, progress, tail)
    except DockerFailed as e:
        last = " | ".join(list(tail)[-5:]) or e.stderr.strip()[-400:]
        raise BuildFailed(
            f"building {t.key} ({t.recipe.name}, {t.platform}) failed: {last}",
            "see the build's output above (`devstack -v k3d images`), fix the cause and run it again.",
        ) from None
    build_s = time.monotonic() - t0
    if not push:
        return build_s, 0.0
    progress(f"{t.key}: pushing {t.push_ref}")
    t1 = time.monotonic()
    try:
        with docker_errors():
            docker.push(t.push_ref, quiet=True)
    except DockerFailed as e:
        raise RegistryUnreachable(
            f"pushing {t.push_ref} failed: {e.last_line}",
            "check that the build registry runs (`k3d registry list`) and answers on its port.",
        ) from None
    return build_s, time.monotonic() - t1


def build_and_push(
    todo: list[Target],
    port: int,
    *,
    build_args: dict[str, dict[str, str]] | None = None,
    progress: Progress | None = None,
    docker: Any = None,
    force: bool = False,
) -> list[Result]:
    """Build each target not already in the registry with the same recipe hash, and push it."""
    if docker is None:
        from devstack.runtime.engine.docker import client

        docker = client()
    say = progress or (lambda _m: None)
    registry = Registry(port)
    registry.ping()
    use_buildx: bool | None = None
    results = []
    for t in todo:
        have = registry.labels(t.repository, t.tag, t.platform)
        if have is not None and have.get(RECIPE_LABEL) == t.digest and not force:
            say(f"{t.key}: {t.ref} already pushed (recipe {t.digest})")
            results.append(Result(t.key, t.ref, t.push_ref, t.platform, "already pushed", t.digest))
            continue
        if use_buildx is None:
            use_buildx = buildx_available(docker)
        say(f"{t.key}: building {t.recipe.name} for {t.platform} ({'buildx' if use_buildx else 'classic builder'})")
        build_s, push_s = build_one(
            t, docker, build_args=(build_args or {}).get(t.key, {}), use_buildx=use_buildx, progress=say
        )
        size = 0
        if not use_buildx:
            size = int(docker.image.inspect(t.push_ref).size or 0)
        say(f"{t.key}: pushed {t.ref} (build {build_s:.0f} s, push {push_s:.0f} s)")
        results.append(Result(t.key, t.ref, t.push_ref, t.platform, "built", t.digest, build_s, push_s, size))
    return results


def ensure_local(
    key: str,
    ref: str,
    *,
    build_args: dict[str, str] | None = None,
    progress: Progress | None = None,
    docker: Any = None,
    recipes: Path | None = None,
) -> Result:
    """devstack's own build of image `key` as `ref` in the local engine (the demo's model server runs it): built
    from its recipe when absent or built from another recipe (its label), else left as it is ("present"). Build
    args (a private index, another base) apply to the build; they do not make a present image stale."""
    if docker is None:
        from devstack.runtime.engine.docker import client

        docker = client()
    say = progress or (lambda _m: None)
    recipe = (recipes or recipes_dir()) / RECIPES[key]
    platform = _native_platform(docker)
    # the label follows the recipe only: a later demo without the first one's build args keeps the image
    t = Target(key, recipe, ref, ref, platform, recipe_hash(recipe, platform))
    if docker.image.exists(ref) and (docker.image.inspect(ref).config.labels or {}).get(RECIPE_LABEL) == t.digest:
        return Result(key, ref, ref, platform, "present", t.digest)
    use_buildx = buildx_available(docker)
    say(f"{key}: building devstack's {recipe.name} image {ref} for {platform} (once; a few minutes)")
    build_s, _ = build_one(t, docker, build_args=build_args or {}, use_buildx=use_buildx, progress=say, push=False)
    size = int(docker.image.inspect(ref).size or 0)
    say(f"{key}: built {ref} in {build_s:.0f} s")
    return Result(key, ref, ref, platform, "built", t.digest, build_s, 0.0, size)


@dataclass
class Report:
    registry: str
    results: list[Result] = field(default_factory=list)
    listing: dict[str, list[str]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"registry": self.registry, "images": [r.to_dict() for r in self.results], "listing": self.listing}


def for_plan(
    plan: Plan,
    project: str,
    arch: str,
    *,
    force: bool = False,
    build_args: dict[str, dict[str, str]] | None = None,
    progress: Progress | None = None,
) -> Report:
    """`devstack k3d images` and `up`'s step: what the plan's cluster needs on `arch`, built and pushed."""
    from devstack.planning.catalog import upstream_platforms
    from devstack.planning.seldon import builds_address

    s = plan.service("seldon")
    port = s.ports["images"][0]
    registry = builds_address(project, port)
    platforms = upstream_platforms("seldon")
    todo = targets(s.images, platforms, arch, registry, port, force=force, build_args=build_args)
    results = build_and_push(todo, port, build_args=build_args, progress=progress, force=False)
    return Report(registry, results, Registry(port).listing())
