"""Buckets with versioning enabled, through the S3 API (boto3), so any S3-compatible store can fill the role."""

from __future__ import annotations

from collections.abc import Sequence

from devstack.core.errors import EnvironmentProblem
from devstack.lifecycle.bootstrap.report import CREATED, OK, UPDATED, Change
from devstack.services.minio import NAME as MINIO


def client(endpoint: str, access_key: str, secret_key: str):  # type: ignore[no-untyped-def]
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name="us-east-1",
        config=Config(retries={"max_attempts": 3}, connect_timeout=5, read_timeout=30, s3={"addressing_style": "path"}),
    )


def apply(buckets: Sequence[str], endpoint: str, access_key: str, secret_key: str) -> list[Change]:
    from botocore.exceptions import BotoCoreError, ClientError

    s3 = client(endpoint, access_key, secret_key)
    out: list[Change] = []
    try:
        existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
        for name in buckets:
            action = OK
            if name not in existing:
                s3.create_bucket(Bucket=name)
                action = CREATED
            status = s3.get_bucket_versioning(Bucket=name).get("Status")
            if status != "Enabled":
                s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
                action = action if action == CREATED else UPDATED
            detail = "versioning enabled" if action != UPDATED else f"versioning {status or 'off'} -> enabled"
            out.append(Change(MINIO, f"bucket {name}", action, detail))
    except (BotoCoreError, ClientError) as e:
        raise EnvironmentProblem(f"the object store at {endpoint} refused: {e}", "run `devstack status`.") from None
    return out
