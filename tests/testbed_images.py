"""The test images built by tests/testbed/build_images.sh, as DEVSTACK_IMAGE_* overrides."""

from __future__ import annotations

from pathlib import Path

IMAGES_ENV = Path(__file__).resolve().parent / "testbed" / "images.env"


def testbed_images() -> dict[str, str]:
    if not IMAGES_ENV.exists():
        return {}
    out = {}
    for line in IMAGES_ENV.read_text().splitlines():
        if line.startswith("DEVSTACK_IMAGE_") and "=" in line:
            k, _, v = line.partition("=")
            out[k.strip()] = v.strip()
    return out


testbed_images.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test, though its name starts so
