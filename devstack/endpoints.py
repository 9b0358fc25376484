"""Where each service answers from the host, and with which credentials. Pure: plan + secrets in.

`up` prints these, `status` and the probes use them, and `devstack env` exports them, so notebooks on the host
and inside JupyterLab read the same variable names (inside, the Compose names replace 127.0.0.1)."""

from __future__ import annotations

from dataclasses import dataclass, field

from devstack.plan import Plan


@dataclass(frozen=True)
class Endpoint:
    service: str
    url: str  # what a person opens or a client dials
    user: str = ""
    secret_key: str = ""  # which secret (name in secrets.json) is its password, never the value
    extra: dict[str, str] = field(default_factory=dict)


def _host(plan: Plan) -> str:
    return "127.0.0.1" if plan.bind in ("0.0.0.0", "::") else plan.bind


def endpoints(plan: Plan) -> list[Endpoint]:
    h = _host(plan)
    out: list[Endpoint] = []
    for s in plan.services:
        p = s.ports
        if s.name == "kafka":
            out.append(Endpoint("kafka", ",".join(f"{h}:{port}" for port in p["broker"])))
        elif s.name == "spark":
            out.append(
                Endpoint("spark", f"spark://{h}:{p['master'][0]}", extra={"ui": f"http://{h}:{p['master-ui'][0]}"})
            )
        elif s.name == "clickhouse":
            out.append(
                Endpoint(
                    "clickhouse",
                    f"http://{h}:{p['http'][0]}",
                    "default",
                    "clickhouse_password",
                    {"native": f"{h}:{p['native'][0]}"},
                )
            )
        elif s.name == "postgres":
            out.append(
                Endpoint("postgres", f"postgresql://{h}:{p['sql'][0]}/devstack", "devstack", "postgres_password")
            )
        elif s.name == "minio":
            out.append(
                Endpoint(
                    "minio",
                    f"http://{h}:{p['s3'][0]}",
                    "devstack",
                    "minio_password",
                    {"console": f"http://{h}:{p['console'][0]}"},
                )
            )
        elif s.name == "redis":
            out.append(Endpoint("redis", f"redis://{h}:{p['redis'][0]}/0", "", "redis_password"))
        elif s.name == "mlflow":
            out.append(Endpoint("mlflow", f"http://{h}:{p['http'][0]}"))
        elif s.name == "airflow":
            out.append(Endpoint("airflow", f"http://{h}:{p['http'][0]}", "admin", "airflow_admin_password"))
        elif s.name == "jupyter":
            out.append(Endpoint("jupyter", f"http://{h}:{p['http'][0]}/lab", "", "jupyter_token"))
        elif s.name == "prometheus":
            out.append(Endpoint("prometheus", f"http://{h}:{p['http'][0]}"))
        elif s.name == "seldon":
            out.append(Endpoint("seldon", f"http://{h}:{p['ingress'][0]}"))
    return out


def environment(plan: Plan, secrets: dict[str, str]) -> dict[str, str]:
    """The variables notebooks and tools read (the same names JupyterLab gets inside the stack)."""
    env: dict[str, str] = {}
    by = {e.service: e for e in endpoints(plan)}
    if "kafka" in by:
        env["KAFKA_BOOTSTRAP_SERVERS"] = by["kafka"].url
    if "spark" in by:
        env["SPARK_MASTER_URL"] = by["spark"].url
    if "clickhouse" in by:
        env |= {
            "CLICKHOUSE_URL": by["clickhouse"].url,
            "CLICKHOUSE_USER": "default",
            "CLICKHOUSE_PASSWORD": secrets["clickhouse_password"],
        }
    if "postgres" in by:
        env |= {
            "POSTGRES_URL": by["postgres"].url.replace(
                "postgresql://", f"postgresql://devstack:{secrets['postgres_password']}@"
            )
        }
    if "minio" in by:
        env |= {
            "MLFLOW_S3_ENDPOINT_URL": by["minio"].url,
            "AWS_ENDPOINT_URL": by["minio"].url,
            "AWS_ACCESS_KEY_ID": "devstack",
            "AWS_SECRET_ACCESS_KEY": secrets["minio_password"],
        }
    if "redis" in by:
        # the user named: redis-cli 7 sends an empty user name for `redis://:pw@` and the server answers WRONGPASS
        env["REDIS_URL"] = by["redis"].url.replace("redis://", f"redis://default:{secrets['redis_password']}@")
    if "mlflow" in by:
        env["MLFLOW_TRACKING_URI"] = by["mlflow"].url
    if "airflow" in by:
        env |= {
            "AIRFLOW_URL": by["airflow"].url,
            "AIRFLOW_USER": "admin",
            "AIRFLOW_PASSWORD": secrets["airflow_admin_password"],
        }
    if "jupyter" in by:
        env |= {"JUPYTER_URL": by["jupyter"].url, "JUPYTER_TOKEN": secrets["jupyter_token"]}
    if "prometheus" in by:
        env["PROMETHEUS_URL"] = by["prometheus"].url
    return env
