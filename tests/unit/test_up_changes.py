"""What `up` calls a change: the plan's sizes and services, and also the rendered files when the plan is the same
(a newer devstack's Compose files, say), which must reach the containers and be named."""

from __future__ import annotations

from pathlib import Path

from devstack.lifecycle.stack import _changed_files, _fingerprint
from devstack.planning.config import plan_request, select
from devstack.planning.plan import make_plan
from devstack.render.project import render


def _rendered(tmp_path: Path) -> Path:
    sel = select(profile="minimal", services=None, budget="8g", config=None, stack=None, cwd=tmp_path)
    plan = make_plan(plan_request(sel, engine_mib=None, host_mib=None, arch="amd64"))
    d = tmp_path / "stack"
    render(plan, d, "devstack-t")
    return d


def test_the_same_render_is_no_change(tmp_path: Path) -> None:
    d = _rendered(tmp_path)
    assert _changed_files(_fingerprint(d), _fingerprint(d)) == []


def test_a_compose_file_that_changed_under_the_same_plan_is_named(tmp_path: Path) -> None:
    d = _rendered(tmp_path)
    before = _fingerprint(d)
    f = sorted((d / "compose").glob("*.yaml"))[0]
    f.write_text(f.read_text(encoding="utf-8") + "\n# changed\n", encoding="utf-8")
    assert _changed_files(before, _fingerprint(d)) == [f"generated files changed: compose/{f.name}"]


def test_many_changed_files_are_summed_up() -> None:
    before = {f"config/{i}": "a" for i in range(6)}
    after = {**{f"config/{i}": "b" for i in range(5)}, "config/new": "c"}
    (line,) = _changed_files(before, after)
    assert line.startswith("generated files changed: config/0, config/1, config/2, config/3 and 3 more"), line


def test_a_new_stack_is_not_a_file_change() -> None:
    assert _changed_files(None, {"x": "y"}) == []


def test_every_caller_of_up_mounts_the_same_notebooks(tmp_path: Path) -> None:
    """The CLI and the dashboard's `u` key share one rule: ./notebooks where devstack runs, else the shipped ones
    (a second rule made the dashboard's `u` change .env, and so jupyter, on a stack that had not changed)."""
    from devstack.core.resources import notebooks_dir, resource_dir

    assert notebooks_dir(tmp_path) == resource_dir("notebooks")
    (tmp_path / "notebooks").mkdir()
    assert notebooks_dir(tmp_path) == tmp_path / "notebooks"
