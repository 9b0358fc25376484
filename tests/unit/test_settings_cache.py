"""The cache of validated profiles and override files (planning/profiles.py, issue 14.7): what comes back from it
is exactly what validation gives; a broken file is refused every time; an entry that does not read back, or a
cache that cannot be written, costs only the speed; and `plan` on unchanged files loads neither pydantic nor
YAML."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack import services
from devstack.core.errors import ConfigError
from devstack.planning import profiles
from devstack.planning.profiles import load_override, load_profile, profile_names
from tests.conftest import REPO, run_cli

OVERRIDE = """\
budget: 6g
bind: 127.0.0.1
stack: cached
services:
  redis: {memory: 256m, ports: {redis: 16379}}
  web: {memory: 128m}
addons:
  web:
    image: nginx:1.27
    ports: {http: "18080:80"}
    memory: {floor: 64m, target: 256m}
    health: {port: http}
    command: [nginx, -g, daemon off;]
    volumes: [/usr/share/nginx/html]
alerts:
  RedisMemoryNearMax: {threshold: 0.8, for: 2m}
  TargetDown: {enabled: false}
"""


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A cache of this test's own, and the registry left as it was (an override registers its add-ons)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    before = dict(services.SERVICES)
    yield tmp_path / "cache" / "devstack" / "settings"
    services.SERVICES.clear()
    services.SERVICES.update(before)


def _forget_addons() -> None:
    for name in [n for n, s in services.SERVICES.items() if s.declaration is not None]:
        del services.SERVICES[name]


@pytest.mark.parametrize("name", profile_names())
def test_a_shipped_profile_reads_back_from_the_cache_as_validated(name: str, cache: Path) -> None:
    validated = load_profile(name)
    assert len(list(cache.glob("*.json"))) == 1
    assert load_profile(name) == validated


def test_an_override_reads_back_with_its_add_ons_registered(tmp_path: Path, cache: Path) -> None:
    (tmp_path / "devstack.yaml").write_text(OVERRIDE)
    path, validated = load_override(None, tmp_path)
    assert path == tmp_path / "devstack.yaml"
    assert validated.budget == 6 * 1024 and validated.services["redis"].memory == 256
    assert validated.alerts["RedisMemoryNearMax"] == {"enabled": True, "threshold": 0.8, "for": "2m"}
    _forget_addons()
    _, cached = load_override(None, tmp_path)
    assert cached == validated
    assert services.SERVICES["web"].declaration == validated.addons["web"].to_dict()
    assert len(list(cache.glob("*.json"))) == 1


def test_a_profile_naming_an_add_on_is_valid_only_while_the_add_on_is_declared(tmp_path: Path) -> None:
    (tmp_path / "devstack.yaml").write_text(OVERRIDE)
    (tmp_path / "mine.yaml").write_text("services: [redis, web]\n")
    load_override(None, tmp_path)
    assert set(load_profile(str(tmp_path / "mine.yaml")).profile.services) == {"redis", "web"}
    _forget_addons()
    with pytest.raises(ConfigError, match="unknown service 'web'"):
        load_profile(str(tmp_path / "mine.yaml"))


def test_a_broken_file_is_refused_every_time_and_never_kept(tmp_path: Path, cache: Path) -> None:
    (tmp_path / "devstack.yaml").write_text("budget: lots\n")
    for _ in range(2):
        with pytest.raises(ConfigError, match="budget"):
            load_override(None, tmp_path)
    assert not list(cache.glob("*.json"))


def test_an_entry_that_does_not_read_back_is_validated_again(cache: Path) -> None:
    validated = load_profile("minimal")
    (entry,) = cache.glob("*.json")
    for garbage in ("{not json", '{"services": 3}', "[]"):
        entry.write_text(garbage)
        assert load_profile("minimal") == validated
    assert load_profile("minimal") == validated  # and kept again


def test_a_cache_that_cannot_be_written_costs_only_the_speed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "file"))  # a file where the directory would go
    assert load_profile("minimal") == load_profile("minimal")


def test_the_cache_keeps_its_newest_entries_only(tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(profiles, "CACHE_KEEP", 3)
    for i in range(5):
        (tmp_path / f"p{i}.yaml").write_text(f"description: number {i}\nservices: [redis]\n")
        load_profile(str(tmp_path / f"p{i}.yaml"))
    assert len(list(cache.glob("*.json"))) == 3


def test_plan_on_unchanged_files_imports_neither_pydantic_nor_yaml_nor_rich(tmp_path: Path) -> None:
    # issue 14.7: the second `plan --json` over the same profile and devstack.yaml reads them from the cache
    (tmp_path / "devstack.yaml").write_text(OVERRIDE)
    code = (
        "import sys, runpy\n"
        "sys.argv = ['devstack', 'plan', '--json', '--budget', '16g']\n"
        "try:\n    runpy.run_module('devstack', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "print(sorted(m for m in ('pydantic', 'yaml', 'rich') if m in sys.modules), file=sys.stderr)\n"
    )
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "PYTHONPATH": str(REPO), "PATH": "/usr/local/bin:/usr/bin:/bin"}
    first = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert first.stderr.strip().splitlines()[-1] == "['pydantic', 'yaml']", first.stderr[-2000:]
    second = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert second.stderr.strip().splitlines()[-1] == "[]", second.stderr[-2000:]
    assert second.stdout == first.stdout
    r = run_cli("plan", "--json", "--budget", "16g", cwd=tmp_path, env={"XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert r.returncode == 0 and '"web"' in r.stdout, r.stderr
