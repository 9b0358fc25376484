"""Render a plan into a stack directory that plain `docker compose` can run.

Files only, no Docker. The layout:
  compose.yaml          generated: includes the selected services' Compose files, declares the networks
  compose/<svc>.yaml    the shipped Compose files, verbatim (readable; sized values come from .env)
  .env                  every sized value, image, port and secret (0600); Compose reads it by itself
  config/...            generated service configs (server.properties, redis.conf, ClickHouse XML, ...)
  k3d/cluster.yaml      the k3d cluster config, when the plan runs Seldon
  plan.json             the plan this was rendered from
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import yaml

from devstack import __version__
from devstack.core.files import write_atomic, write_private
from devstack.core.resources import compose_dir, k3d_dir
from devstack.pipeline import MLFLOW_BUCKET
from devstack.planning.catalog import CATALOG, Runtime, exporters_for
from devstack.planning.context import context, planned
from devstack.planning.plan import Plan
from devstack.render import cluster_metrics
from devstack.render.state import (
    COMPOSE_FILE,
    MARKER,
    START_INTERVAL_FILE,
    check_target_dir,
    load_or_create_secrets,
)
from devstack.render.tls import ensure_certificates
from devstack.services import SERVICES
from devstack.services.base import TLS, Image, Service, env_key, mem, port_env_key, scrape_job
from devstack.services.clickhouse import NAME as CLICKHOUSE
from devstack.services.jupyter import NAME as JUPYTER
from devstack.services.kafka import NAME as KAFKA
from devstack.services.seldon import NAME as SELDON
from devstack.services.spark import NAME as SPARK
from devstack.services.tls import CERT_DIR, CERT_HASH_ENV

NETWORKS = {
    "stream": "the data plane: Kafka, Spark, ClickHouse, MinIO, Redis and their clients",
    "store": "metadata and artifacts: PostgreSQL, MLflow, MinIO, Redis, ClickHouse and their clients",
}


@dataclass(frozen=True)
class Rendered:
    directory: Path
    project: str
    files: tuple[Path, ...]


def _running_ref(image: Image | None, ref: str) -> str:
    """The image that runs under a key: for one devstack always builds itself (Seldon's MLServer), its build, unless
    the user named another. The demo's Compose model server shares DEVSTACK_IMAGE_MLSERVER with Seldon, so .env
    naming Seldon's upstream image made the demo (and `docker compose` on the ejected project) run that image,
    which cannot load the DAG's model."""
    if image is not None and image.devstack_build and ref == image.ref:
        from devstack.planning.seldon import devstack_ref

        return devstack_ref(ref)
    return ref


def env_values(plan: Plan, project: str, secrets: dict[str, str], notebooks: Path | None) -> dict[str, str]:
    """Everything Compose interpolates, in a stable order: a diff of two renders reads like the plan's diff."""
    env: dict[str, str] = {
        "COMPOSE_PROJECT_NAME": project,
        "DEVSTACK_PROFILE": plan.profile,
        "DEVSTACK_BUDGET": mem(plan.budget_mib),
        # with the TLS proxy, the plain ports are this machine's alone and the TLS twins take the bind address
        "DEVSTACK_BIND": plan.plain_bind,
    }
    if TLS in plan.names():
        env["DEVSTACK_TLS_BIND"] = plan.bind
    for s in plan.services:
        service = SERVICES[s.name]
        for key, ref in s.images.items():
            env[env_key("image", key)] = _running_ref(service.spec.images.get(key), ref)
        per_replica = {p.name for p in service.spec.ports if p.per_replica}
        for port_name, hosts in s.ports.items():
            if port_name in per_replica:  # each replica publishes its own
                for i, h in enumerate(hosts, 1):
                    env[port_env_key(s.name, port_name, i)] = str(h)
            else:
                env[port_env_key(s.name, port_name)] = str(hosts[0])
        if s.runtime == Runtime.K3D.value:
            continue
        env.update(service.env(context(plan, s.name, secrets=secrets, project=project)))
    profiles = compose_profiles(plan)
    if profiles:
        env["COMPOSE_PROFILES"] = ",".join(profiles)
    if notebooks is not None:
        env["DEVSTACK_NOTEBOOKS"] = str(notebooks)
    env["DEVSTACK_MLFLOW_BUCKET"] = MLFLOW_BUCKET
    for service in SERVICES.values():
        env |= {sec.env: secrets[sec.name] for sec in service.secrets if sec.env}
    return env


def compose_profiles(plan: Plan) -> list[str]:
    """Compose profiles that switch on the optional containers the plan runs: those a service asks for (Kafka's
    brokers 2 and 3), and the exporters beside Prometheus (only for services that are planned too)."""
    out: list[str] = []
    for service in planned(plan):
        out += service.profiles(context(plan, service.name))
    for s in plan.services:
        out += [e.container for e in exporters_for(s.name, plan.names())]
    return out


def _env_file(env: dict[str, str], plan: Plan) -> str:
    lines = [
        f"# Generated by devstack {__version__}: profile {plan.profile}, "
        f"budget {plan.budget_mib}m ({plan.budget_source}).",
        "# Compose reads this file by itself: `docker compose ps`, `logs`, `up -d`, `down` work in this directory.",
        "# It holds this stack's passwords: keep it private (mode 0600).",
    ]
    for key, value in env.items():
        if any(ch in value for ch in " #\"'$"):
            value = "'" + value.replace("'", "") + "'"
        lines.append(f"{key}={value}")
    return "\n".join(lines) + "\n"


PIPELINE_FILE = "pipeline.yaml"
PIPELINE_NEEDS = (KAFKA, SPARK, CLICKHOUSE, JUPYTER)


def has_pipeline(plan: Plan) -> bool:
    """The demo's streaming job needs Kafka, Spark, ClickHouse and JupyterLab's image (its driver)."""
    return all(n in plan.names() for n in PIPELINE_NEEDS)


def compose_text(name: str, generated: dict[str, str] | None = None) -> str:
    """A Compose file's text: the one a service generates from the plan (`generated`: its files, as config_files
    gives them), the shipped compose/<file>, or the one devstack generates for an add-on."""
    if generated and f"compose/{name}" in generated:
        return generated[f"compose/{name}"]
    for spec in CATALOG.values():
        if spec.compose_file == name and spec.generated_compose is not None:
            return spec.generated_compose()
    return (compose_dir() / name).read_text(encoding="utf-8")


def compose_files(plan: Plan) -> list[str]:
    files = [f for n in plan.names() if (f := CATALOG[n].compose_file)]
    return [*files, PIPELINE_FILE] if has_pipeline(plan) else files


# During a container's start_period, an engine that has start_interval (Docker Engine 25+, API 1.44) runs its
# healthcheck at that cadence instead of `interval`: a service is marked healthy within seconds of being ready,
# while the steady-state cadence stays as cheap as each Compose file sets it. Compose
# refuses the key on older engines, so it lives in a file of its own that only such engines get.
START_INTERVAL = "2s"


def _start_interval_yaml(plan: Plan, generated: dict[str, str]) -> str:
    services: dict[str, object] = {}
    for f in compose_files(plan):
        doc = yaml.safe_load(compose_text(f, generated))
        for name, svc in (doc.get("services") or {}).items():
            if isinstance(svc, dict) and "healthcheck" in svc and not svc["healthcheck"].get("disable"):
                services[name] = {"healthcheck": {"start_interval": START_INTERVAL}}
    header = (
        f"# Generated by devstack {__version__}: healthchecks every {START_INTERVAL} while a container\n"
        "# starts (its start_period), then at the interval its own file sets. Docker Engine 25+ only: .env's\n"
        "# COMPOSE_FILE lists this file after compose.yaml, and devstack leaves it out for older engines.\n"
    )
    return header + yaml.safe_dump({"services": services}, sort_keys=True)


def _compose_yaml(plan: Plan, project: str) -> str:
    files = [f"compose/{f}" for f in compose_files(plan)]
    header = (
        f"# Generated by devstack {__version__} for the {plan.profile} profile. Plain Compose works here:\n"
        "#   docker compose ps | docker compose logs -f kafka-1 | docker compose --profile '*' down\n"
        "# Sized values, images and ports come from .env; each included file is one service, readable on its own.\n"
    )
    doc = {
        "name": project,
        "include": files,
        "networks": {n: {"name": f"{project}_{n}"} for n in NETWORKS},
    }
    body = yaml.safe_dump(doc, sort_keys=False)
    comments = "".join(f"# network {n}: {what}\n" for n, what in NETWORKS.items())
    return header + comments + body


def _scraper(plan: Plan) -> Service | None:
    """The planned service that scrapes the others (Prometheus), if any."""
    return next((s for s in planned(plan) if s.scrapes), None)


def scrape_jobs(plan: Plan, cluster: str | None = None) -> list[dict[str, object]]:
    """Prometheus's scrape jobs for the plan, one per metrics endpoint, named after what they watch: the scraper's
    own, the services' native endpoints (each service's `scrape_jobs`), and, when a scraper is planned, the
    exporters the others declare. Each target carries a `service` label with the devstack service it belongs to,
    so dashboards can group by it. `cluster`: the k3d cluster whose model servers Prometheus may scrape, once its
    credentials exist (cluster_metrics.py); None leaves that job out."""
    scraper = _scraper(plan)
    # the scraper's own job first, then the others by name: a stable order that adding a service does not reshuffle
    services = sorted(planned(plan), key=lambda s: (s is not scraper, s.name))
    jobs = [job for s in services for job in s.scrape_jobs(context(plan, s.name))]
    if scraper is None:
        return jobs
    for e in exporters_for(scraper.name, plan.names()):
        jobs.append(scrape_job(e.job or e.watches, e.watches, f"{e.container}:{e.port}"))
    if has_pipeline(plan):
        # the demo's MLServer (model monitoring: request counts and latencies per model), found by DNS: while
        # `devstack demo` has not started it there is no target at all rather than one that is down
        jobs.append(
            {
                "job_name": MODEL_SERVER_JOB,
                "dns_sd_configs": [{"names": ["model-server"], "type": "A", "port": 8082, "refresh_interval": "15s"}],
                "relabel_configs": [{"target_label": "service", "replacement": "pipeline"}],
            }
        )
    if SELDON in plan.names() and cluster is not None:
        jobs.append(cluster_metrics.scrape_job(cluster))
    return jobs


def alert_rule_groups(plan: Plan, project: str) -> list[dict[str, object]]:
    """The alerting rules of the planned services, one rule group each, when a scraper is planned to evaluate them
    (none otherwise), with the thresholds, `for`s and switches the plan took from devstack.yaml's `alerts:`. Rules
    about containers select this stack's by its Compose project (cAdvisor sees every container of the engine)."""
    if _scraper(plan) is None:
        return []
    groups: list[dict[str, object]] = []
    for s in planned(plan):
        rules = []
        for a in s.alerts:
            setting = plan.alerts.get(a.name, {})
            if setting.get("enabled", True):
                rules.append(a.rule(setting.get("threshold"), setting.get("for"), project))
        if rules:
            groups.append({"name": s.name, "rules": rules})
    return groups


MODEL_SERVER_JOB = "model-server"
# jobs whose targets exist only while something optional runs: the demo's model server, models served on k3d
ON_DEMAND_JOBS = frozenset({MODEL_SERVER_JOB, cluster_metrics.JOB})


def config_files(
    plan: Plan, secrets: dict[str, str], project: str, cluster_metrics: bool = False, start_interval: bool = False
) -> dict[str, str]:
    """Every generated file (path relative to the stack dir -> text), secrets aside. `start_interval`: the engine
    takes healthcheck start_interval (Docker Engine 25+), so the start-interval file is rendered too."""
    files: dict[str, str] = {COMPOSE_FILE: _compose_yaml(plan, project)}
    if has_pipeline(plan):  # the demo's model server: compose/pipeline.yaml builds it from this copy when absent
        recipe = k3d_dir() / "images" / "mlserver"
        files |= {f"images/mlserver/{f.name}": f.read_text(encoding="utf-8") for f in sorted(recipe.iterdir())}
    jobs = scrape_jobs(plan, project if cluster_metrics else None)
    rules = alert_rule_groups(plan, project)
    containers = {c for s in plan.services for c in s.containers}
    for service in planned(plan):
        ctx = context(plan, service.name, secrets=secrets, project=project, scrape_jobs=jobs, alert_rules=rules)
        files.update(service.files(ctx))
        e = service.exporter
        if e is not None and e.config is not None and e.container in containers:  # its exporter runs
            files.update(e.config(ctx))
    if start_interval:
        files[START_INTERVAL_FILE] = _start_interval_yaml(plan, files)
    files["plan.json"] = json.dumps(plan.to_dict(), indent=2) + "\n"
    return files


def _remove_stale(directory: Path, wanted: set[str]) -> None:
    """Remove generated files of services no longer planned. Directories that stay are kept as they are:
    a running container's bind mount points at the directory itself, and a new one would leave it blind."""
    for owned in ("compose", "config", "k3d"):
        root = directory / owned
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*"), reverse=True):
            rel = path.relative_to(directory).as_posix()
            if path.is_file() and rel not in wanted:
                path.unlink()
            elif path.is_dir() and not any(path.iterdir()):
                path.rmdir()


def render(
    plan: Plan, directory: Path, project: str, notebooks: Path | None = None, start_interval: bool = False
) -> Rendered:
    """Write the stack dir. Re-rendering keeps the stack's secrets and replaces only what devstack generates.
    `start_interval`: the engine the stack runs on takes healthcheck start_interval (EngineFacts)."""
    check_target_dir(directory)
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    secrets = load_or_create_secrets(directory)
    # the stack's CA, kept across renders, and a server certificate for the bind address
    tls = ensure_certificates(directory / CERT_DIR, plan.bind, project) if TLS in plan.names() else None
    # the k3d cluster's credentials for Prometheus, written by `up` once the cluster exists, stay while seldon is
    # planned (a plan without it drops them with the job)
    kept = cluster_metrics.credential_files(directory) if SELDON in plan.names() else set()
    files = config_files(
        plan, secrets, project, cluster_metrics=_scrapes_cluster(plan, directory), start_interval=start_interval
    )
    wanted = {f"compose/{f}" for f in compose_files(plan)} | set(files) | kept
    _remove_stale(directory, wanted)
    if START_INTERVAL_FILE not in files:  # rendered again for an engine without start_interval
        (directory / START_INTERVAL_FILE).unlink(missing_ok=True)
    written = []
    for f in compose_files(plan):
        if f"compose/{f}" in files:  # generated from the plan: written with the other files below
            continue
        write_atomic(directory / "compose" / f, compose_text(f))
        written.append(directory / "compose" / f)
    for rel, text in files.items():
        mode = 0o755 if rel.endswith(".sh") else 0o644
        write_atomic(directory / rel, text, mode)
        written.append(directory / rel)
    env = env_values(plan, project, secrets, notebooks)
    if tls is not None:
        env[CERT_HASH_ENV] = hashlib.sha256(tls.server.read_bytes()).hexdigest()[:12]
    if START_INTERVAL_FILE in files:  # plain `docker compose` in the directory merges the same files devstack does
        env = {"COMPOSE_FILE": f"{COMPOSE_FILE}:{START_INTERVAL_FILE}", **env}
    write_private(directory / ".env", _env_file(env, plan))
    (directory / MARKER).write_text(f"devstack {__version__}\n", encoding="utf-8")
    return Rendered(directory, project, (directory / ".env", *written))


def _scrapes_cluster(plan: Plan, directory: Path) -> bool:
    """Whether prometheus.yml gets the k3d cluster's job: seldon planned and its credentials written."""
    return SELDON in plan.names() and cluster_metrics.credentials_present(directory)


def write_prometheus_config(plan: Plan, directory: Path, project: str) -> bool:
    """Rewrite the scraper's config alone (the k3d cluster's job appears once its credentials exist); True when it
    changed, so the caller reloads Prometheus. compose/prometheus.yaml mounts the directory, not the file, so
    the running container sees the new file (a bind-mounted file would keep showing the replaced one)."""
    scraper = _scraper(plan)
    if scraper is None:
        return False
    jobs = scrape_jobs(plan, project if _scrapes_cluster(plan, directory) else None)
    changed = False
    ctx = context(plan, scraper.name, project=project, scrape_jobs=jobs, alert_rules=alert_rule_groups(plan, project))
    for rel, text in scraper.files(ctx).items():
        path = directory / rel
        if path.is_file() and path.read_text(encoding="utf-8") == text:
            continue
        write_atomic(path, text)
        changed = True
    return changed
