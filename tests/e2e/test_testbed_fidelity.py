"""Each stand-in against the fidelity table (tests/testbed/CONTRACT.md): its `docker image inspect` (user,
entrypoint, HEALTHCHECK), whether curl is there, its Python minor and library versions, fact by fact, except
where the table says the stand-in differs and why."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.fidelity import CHECKED, Row, entrypoint_of, healthcheck_of, rows, user_of
from tests.fidelity_images import stand_in_variable
from tests.testbed_images import testbed_images

pytestmark = pytest.mark.engine
ROWS = [r for r in rows() if stand_in_variable(r.image)]


def _run(tag: str, *argv: str) -> str:
    r = subprocess.run(
        ["docker", "run", "--rm", "--entrypoint", argv[0], tag, *argv[1:]],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, f"{tag} {argv}: {r.stderr[-1500:]}"
    return r.stdout.strip()


PYTHON_FACTS = """
import importlib.metadata as m, json, sys
out = {"python": "%d.%d" % sys.version_info[:2]}
for name in sys.argv[1:]:
    try:
        out[name] = m.version(name)
    except m.PackageNotFoundError:
        out[name] = "absent"
print(json.dumps(out))
"""


def _observed(row: Row, tag: str) -> dict[str, str]:
    config = json.loads(
        subprocess.run(["docker", "image", "inspect", tag], capture_output=True, text=True, check=True).stdout
    )[0]["Config"]
    seen = {"user": user_of(config), "entrypoint": entrypoint_of(config), "healthcheck": healthcheck_of(config)}
    seen["curl"] = _run(tag, "sh", "-c", "command -v curl >/dev/null && echo yes || echo no")
    minor = row.python_minor()
    if minor is None:
        seen["python"] = "-"
    else:
        libs = row.libraries()
        got = json.loads(_run(tag, "python3", "-c", PYTHON_FACTS, *libs))
        seen["python"] = "; ".join(
            [got["python"], ", ".join(f"{k} {got[k]}" for k in libs)] if libs else [got["python"]]
        )
    return seen


@pytest.mark.parametrize("row", ROWS, ids=[r.image for r in ROWS])
def test_the_stand_in_is_what_the_official_image_is(row: Row) -> None:
    images = testbed_images()
    variable = stand_in_variable(row.image)
    if variable not in images:
        pytest.fail(f"no stand-in for {row.image} ({variable}): run bash tests/testbed/setup.sh")
    seen = _observed(row, images[variable])
    wrong = {
        col: (row.expected(col), seen[col])
        for col in CHECKED
        if col not in row.differs and _normal(row.expected(col)) != _normal(seen[col])
    }
    assert not wrong, f"{row.image}: official vs stand-in {images[variable]}: {wrong}"
    # a difference the table declares is still a difference: a stand-in that now matches must lose its entry
    now_same = [col for col in row.differs if col in CHECKED and _normal(row.expected(col)) == _normal(seen[col])]
    assert not now_same, f"{row.image}: the table says the stand-in differs in {now_same}, but it matches"


def _normal(text: str) -> str:
    return " ".join(text.split())
