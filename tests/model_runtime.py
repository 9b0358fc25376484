"""The model runtime's pins (k3d/images/mlserver/model-runtime.txt) as the tests read them."""

from __future__ import annotations

from devstack.core.resources import model_runtime_file


def model_runtime_pins() -> list[str]:
    lines = model_runtime_file().read_text(encoding="utf-8").splitlines()
    return [s.strip() for s in lines if s.strip()[:1] not in ("", "#")]
