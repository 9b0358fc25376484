"""MinIO: the S3 object store for datasets, models and MLflow's artifacts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from devstack.core.knobs import Sized, down
from devstack.services.base import (
    Ctx,
    Endpoint,
    Group,
    Image,
    Memory,
    Port,
    Secret,
    Service,
    ServiceSpec,
    container_env,
    scrape_job,
)
from devstack.services.probes import HttpProbe, HttpStep

NAME = "minio"
USER = "devstack"  # MinIO's root user: bootstrap's (buckets, users, policies) and nothing else's
MINIO_RELEASE = "RELEASE.2025-09-06T17-38-46Z"

SPEC = ServiceSpec(
    name=NAME,
    title="MinIO",
    group=Group.STORAGE,
    priority=1,
    memory=Memory(floor=512, target=2048, ceiling=4096),
    images={
        "minio": Image(
            f"quay.io/minio/minio:{MINIO_RELEASE}",
            note="community image is frozen; the object store is a role any S3-compatible server can fill",
        )
    },
    ports=(
        Port("s3", 9000, 9000),
        Port("console", 9001, 9001),
        Port("s3-tls", 9000, 8448, "https", "s3", NAME),
        Port("console-tls", 9001, 8449, "https", "console", NAME),
    ),
    compose_file="minio.yaml",
    user=USER,
    summary="S3 object store for datasets, models and MLflow artifacts",
)


@dataclass(frozen=True)
class Client:
    """A MinIO user of the stack and the buckets its policy opens: `reads` to list and get (every version),
    `writes` to that and put and delete too. Nothing else: no bucket creation, no admin API."""

    name: str
    reads: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()


NOTEBOOKS = "notebooks"
SERVING = "serving"


def clients(buckets: Mapping[str, str]) -> tuple[Client, ...]:
    """The stack's S3 clients for the pipeline's `buckets` (role -> bucket: datasets, models, mlflow). MLflow's
    server is the one writer of its artifacts (clients log them through its proxy); Seldon's storage initializer
    copies a model out of them; notebooks, `devstack env` and the demo (the host's tools) read them and own the
    datasets and models buckets."""
    datasets, models, mlflow = buckets["datasets"], buckets["models"], buckets["mlflow"]
    return (
        Client("mlflow", writes=(mlflow,)),
        Client(SERVING, reads=(mlflow,)),
        Client(NOTEBOOKS, reads=(mlflow,), writes=(datasets, models)),
    )


# every client, for its secret (the names alone: bootstrap gives the pipeline's buckets for the policies)
CLIENTS = tuple(c.name for c in clients({"datasets": "", "models": "", "mlflow": ""}))


def password_key(client: str) -> str:
    return f"minio_{client}_password"


def policy_name(client: str) -> str:
    return f"devstack-{client}"


READ_ACTIONS = ("s3:GetObject", "s3:GetObjectVersion")
WRITE_ACTIONS = (*READ_ACTIONS, "s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion", "s3:AbortMultipartUpload")
LIST_ACTIONS = (
    "s3:ListBucket",
    "s3:ListBucketVersions",
    "s3:GetBucketLocation",
    "s3:GetBucketVersioning",
    "s3:ListBucketMultipartUploads",
)


def policy(c: Client) -> dict[str, object]:
    """`c`'s IAM policy document, as MinIO takes it (`mc admin policy create`). Pure."""
    statements: list[dict[str, object]] = []
    buckets = (*c.reads, *c.writes)
    if buckets:
        statements.append(
            {"Effect": "Allow", "Action": list(LIST_ACTIONS), "Resource": [f"arn:aws:s3:::{b}" for b in buckets]}
        )
    if c.reads:
        statements.append(
            {"Effect": "Allow", "Action": list(READ_ACTIONS), "Resource": [f"arn:aws:s3:::{b}/*" for b in c.reads]}
        )
    if c.writes:
        statements.append(
            {"Effect": "Allow", "Action": list(WRITE_ACTIONS), "Resource": [f"arn:aws:s3:::{b}/*" for b in c.writes]}
        )
    return {"Version": "2012-10-17", "Statement": statements}


def size(total: int, replicas: int = 1) -> Sized:
    # GOMEMLIMIT makes Go's collector work harder before the container limit, instead of being killed at it
    soft = down(total * 0.8, 32)
    return Sized({"minio": total}, {"GOMEMLIMIT": f"{soft}MiB"}, {"GOMEMLIMIT": ("minio", soft)})


def env(ctx: Ctx) -> dict[str, str]:
    return container_env(ctx.me) | {"DEVSTACK_MINIO_GOMEMLIMIT": ctx.me.knobs["GOMEMLIMIT"]}


def endpoint(ctx: Ctx) -> Endpoint:
    return Endpoint(
        NAME,
        ctx.url("s3"),
        USER,
        "minio_password",
        {"console": ctx.url("console")},
    )


def client_env(ep: Endpoint, secrets: Mapping[str, str]) -> dict[str, str]:
    """The host's tools (`devstack env`, notebooks run on the host, the demo) sign in as the notebooks user."""
    return {
        "MLFLOW_S3_ENDPOINT_URL": ep.url,
        "AWS_ENDPOINT_URL": ep.url,
        "AWS_ACCESS_KEY_ID": NOTEBOOKS,
        "AWS_SECRET_ACCESS_KEY": secrets.get(password_key(NOTEBOOKS), ""),
        **({"AWS_CA_BUNDLE": ep.ca} if ep.ca else {}),  # boto3's and the AWS CLI's CA file
    }


def probe(ctx: Ctx) -> HttpProbe:
    return HttpProbe((HttpStep(f"http://{ctx.host}:{ctx.port('s3')}/minio/health/ready"),), "/minio/health/ready")


def scrape_jobs(ctx: Ctx) -> list[dict[str, object]]:
    # MINIO_PROMETHEUS_AUTH_TYPE=public in compose/minio.yaml
    return [scrape_job(NAME, NAME, "minio:9000", "/minio/v2/metrics/cluster")]


SERVICE = Service(
    spec=SPEC,
    secrets=(
        Secret("minio_password", "DEVSTACK_MINIO_PASSWORD"),
        # MLflow and JupyterLab get theirs through Compose; the serving user's goes into Seldon's rclone Secret
        *(Secret(password_key(c), f"DEVSTACK_MINIO_{c.upper()}_PASSWORD") for c in CLIENTS),
    ),
    size=size,
    deadline_s=90,
    env=env,
    endpoint=endpoint,
    client_env=client_env,
    probe=probe,
    scrape_jobs=scrape_jobs,
)
