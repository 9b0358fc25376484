"""What one bootstrap run did, item by item: the CLI prints it and `--json` returns it."""

from __future__ import annotations

from dataclasses import asdict, dataclass

OK, CREATED, UPDATED, DIFFERS = "ok", "created", "updated", "differs"


@dataclass(frozen=True)
class Change:
    system: str  # kafka, minio, clickhouse, mlflow, redis
    item: str  # topic, bucket, table, experiment, ...
    action: str  # ok (already as wanted), created, updated, differs (left alone: changing it could lose data)
    detail: str = ""

    @property
    def changed(self) -> bool:
        return self.action in (CREATED, UPDATED)

    def to_dict(self) -> dict[str, str]:
        return asdict(self)
