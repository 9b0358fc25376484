"""Bad input, tried through the real CLI as a user would: one clear line naming the cause and the fix,
exit code 2, no traceback, and nothing written."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import run_cli


def _addon(name: str, health: str, ports: str = "{}") -> str:
    head = f"addons:\n  {name}:\n    image: nginx:1.27\n"
    return head + f"    ports: {ports}\n    memory: {{floor: 64m}}\n    health: {health}\n"


CASES: dict[str, tuple[str, list[str], str]] = {
    # name: (devstack.yaml text or "" for none, extra args, text the message must contain)
    "broken yaml": ("budget: [20g\n", [], "broken YAML"),
    "tab-indented yaml": ("services:\n\tredis: {}\n", [], "broken YAML"),
    "duplicate key": ("budget: 20g\nbudget: 22g\n", [], "duplicate key"),
    "top level not a mapping": ("- redis\n- kafka\n", [], "top level must be a mapping"),
    "unknown top-level field": ("budgett: 20g\n", [], "budgett"),
    "unknown service in override": ("services:\n  kafak: {}\n", [], "unknown service 'kafak'"),
    "unknown field of a service": ("services:\n  redis:\n    memroy: 1g\n", [], "memroy"),
    "negative size": ("services:\n  redis:\n    memory: -1g\n", [], "is not a size"),
    "bare number size": ("budget: 20\n", [], "is not a size"),
    "absurd size": ("budget: 900000t\n", [], "absurdly large"),
    "memory below floor": ("services:\n  clickhouse:\n    memory: 256m\n", [], "clickhouse needs 1536m"),
    "too many replicas": ("services:\n  kafka:\n    replicas: 7\n", [], "runs 1-3 replicas, not 7"),
    "replicas not a number": ("services:\n  kafka:\n    replicas: three\n", [], "replicas"),
    "port clash in override": ("services:\n  redis:\n    ports: {redis: 5432}\n", ["--profile", "ml"], "5432"),
    "port out of range": ("services:\n  redis:\n    ports: {redis: 70000}\n", [], "outside 1-65535"),
    "unknown port name": ("services:\n  redis:\n    ports: {http: 6380}\n", [], "redis has ports redis"),
    "bad image reference": ("services:\n  redis:\n    image: 'not an image'\n", [], "not an image reference"),
    "bad bind address": ("bind: localhost-ish\n", [], "not an IP address"),
    "unknown profile": ("", ["--profile", "fulll"], "unknown profile 'fulll'"),
    "unknown service flag": ("", ["--services", "redis,kafak"], "unknown service 'kafak'"),
    "empty services flag": ("", ["--services", ","], "--services is empty"),
    "budget below floors": ("", ["--budget", "3g"], "needs at least"),
    "budget not a size": ("", ["--budget", "lots"], "is not a size"),
    "missing config file": ("", ["--config", "/nonexistent/devstack.yaml"], "no such file"),
    "config is a directory": ("", ["--config", "/tmp"], "is a directory"),
    # add-on services (issue 14.2)
    "add-on named like a built-in": (_addon("redis", "{command: 'true'}"), [], "'redis' is a built-in service"),
    "add-on name not allowed": (_addon("My_Svc", "{command: 'true'}"), [], "'My_Svc' is not an add-on name"),
    "add-on without health": ("addons:\n  web:\n    image: nginx\n    memory: {floor: 64m}\n", [], "health"),
    "add-on health on no port": (_addon("web", "{port: http}"), [], "health.port 'http' is not one of its ports"),
    "add-on health twice": (_addon("web", "{port: http, command: 'true'}", "{http: 8080}"), [], "give either"),
    "add-on target below floor": (
        "addons:\n  web:\n    image: nginx\n    memory: {floor: 256m, target: 64m}\n    health: {command: 'true'}\n",
        [],
        "target 64m is below floor 256m",
    ),
    "add-on privileged host port": (_addon("web", "{port: http}", "{http: 80}"), [], "privileged"),
    "add-on port not a number": (_addon("web", "{port: http}", "{http: 'eighty'}"), [], "give a port number"),
    "add-on unknown dependency": (
        "addons:\n  web:\n    image: nginx\n    memory: {floor: 64m}\n    health: {command: 'true'}\n"
        "    depends_on: [postgress]\n",
        [],
        "unknown service 'postgress'",
    ),
    "add-on unknown field": (
        "addons:\n  web:\n    image: nginx\n    memory: {floor: 64m}\n    health: {command: 'true'}\n    colour: red\n",
        [],
        "colour",
    ),
    "add-on bad image": (
        "addons:\n  web:\n    image: 'not an image'\n    memory: {floor: 64m}\n    health: {command: 'true'}\n",
        [],
        "not an image reference",
    ),
    "add-on relative volume": (
        "addons:\n  web:\n    image: nginx\n    memory: {floor: 64m}\n    health: {command: 'true'}\n"
        "    volumes: [data]\n",
        [],
        "must be an absolute path",
    ),
    "add-on port clash": (_addon("web", "{port: http}", "{http: 6379}"), ["--services", "redis,web"], "6379"),
    # alert settings (issue 15.2)
    "unknown alert": ("alerts:\n  KafkaLagg: {threshold: 5}\n", [], "unknown alert 'KafkaLagg'"),
    "threshold on a rule without one": ("alerts:\n  TargetDown: {threshold: 3}\n", [], "TargetDown takes no threshold"),
    "alert duration without unit": ("alerts:\n  TargetDown: {for: 90}\n", [], "for"),
    "alert duration not a duration": ("alerts:\n  TargetDown: {for: soon}\n", [], "'soon' is not a duration"),
    "alert threshold not positive": ("alerts:\n  KafkaConsumerGroupLag: {threshold: 0}\n", [], "threshold"),
    "unknown alert setting": ("alerts:\n  TargetDown: {wait: 5m}\n", [], "wait"),
    "tls not a boolean": ("tls: maybe\n", [], "tls"),
    "tls twin port taken by another service": (
        "tls: true\nservices:\n  redis: {ports: {redis-tls: 9000}}\n",
        ["--services", "redis,minio"],
        "host port 9000",
    ),
    "add-on unknown group": (
        "addons:\n  web:\n    image: nginx\n    group: misc\n    memory: {floor: 64m}\n    health: {command: 'true'}\n",
        [],
        "not one of the seed's",
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_one_line_exit_2(name: str, tmp_path: Path) -> None:
    text, args, expect = CASES[name]
    if text:
        (tmp_path / "devstack.yaml").write_text(text)
    r = run_cli("plan", *args, cwd=tmp_path, env={"PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    err = r.stderr.strip()
    assert "Traceback" not in r.stderr + r.stdout
    assert len(err.splitlines()) == 1, err
    assert expect in err, err
    assert "Fix:" in err, err
    if text and name not in (
        "unknown profile",
        "port clash in override",
        "add-on port clash",
        "tls twin port taken by another service",
    ):
        assert "devstack.yaml" in err  # the file is named


def test_error_names_the_line(tmp_path: Path) -> None:
    (tmp_path / "devstack.yaml").write_text("budget: 20g\nservices:\n  redis: {}\n  kafka:\n    replicas: 9\n")
    r = run_cli("plan", cwd=tmp_path)
    assert r.returncode == 2
    assert "devstack.yaml:5: services.kafka.replicas" in r.stderr, r.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_override(tmp_path: Path) -> None:
    f = tmp_path / "devstack.yaml"
    f.write_text("budget: 20g\n")
    f.chmod(0)
    r = run_cli("plan", cwd=tmp_path)
    assert r.returncode == 2 and "permission denied" in r.stderr


def test_unreadable_override_as_root_is_reported_too(tmp_path: Path) -> None:
    f = tmp_path / "devstack.yaml"
    f.write_bytes(b"\xff\xfe budget")
    r = run_cli("plan", cwd=tmp_path)
    assert r.returncode == 2 and "not UTF-8" in r.stderr and "Traceback" not in r.stderr


def test_render_refuses_a_foreign_directory_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    r = run_cli("render", "--profile", "minimal", "--out", str(out), cwd=tmp_path)
    assert r.returncode == 2 and "not a devstack stack" in r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_budget_below_floors_renders_nothing(tmp_path: Path) -> None:
    out = tmp_path / "stack"
    r = run_cli("render", "--budget", "1g", "--out", str(out), cwd=tmp_path)
    assert r.returncode == 2 and not out.exists()


# issue 15: a stack name is checked while the arguments are parsed, so the answer is about the name (not Docker,
# asked nowhere: DOCKER_HOST points at no socket) and nothing is written under the state home
BAD_STACKS = ["../evil2", "a b", "Upper", "_x", "x/y", "x" * 42, ""]
STACK_COMMANDS = [
    ["up", "--services", "postgres", "--budget", "2g"],
    ["render"],
    ["plan"],
    ["status"],
    ["down", "--volumes", "--yes"],
    ["logs", "redis"],
    ["env"],
    ["dashboard"],
]


@pytest.mark.parametrize("stack", BAD_STACKS)
def test_the_stack_name_rule_refuses(stack: str) -> None:
    from devstack.core.errors import UsageError
    from devstack.planning.stack_names import check_stack_name

    with pytest.raises(UsageError, match="is not a stack name"):
        check_stack_name(stack)


# every command that takes --stack, through the CLI (the rule itself is checked for every bad name above); each
# command gets a different bad name, so the CLI path is seen refusing each kind of name too
@pytest.mark.parametrize(
    ("command", "stack"),
    [(c, BAD_STACKS[i % len(BAD_STACKS)]) for i, c in enumerate(STACK_COMMANDS)],
    ids=lambda v: v[0] if isinstance(v, list) else repr(v),
)
def test_a_bad_stack_name_is_refused_before_docker_or_disk(command: list[str], stack: str, tmp_path: Path) -> None:
    state = tmp_path / "state"
    env = {"XDG_STATE_HOME": str(state), "DOCKER_HOST": "unix:///nonexistent/docker.sock"}
    r = run_cli(*command, "--stack", stack, cwd=tmp_path, env=env)
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    err = r.stderr.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in r.stderr, err
    assert "is not a stack name" in err and "Fix:" in err and "Docker" not in err, err
    assert not state.exists() and not (tmp_path / "evil2").exists()


def test_a_good_stack_name_passes_the_same_check(tmp_path: Path) -> None:
    r = run_cli("plan", "--stack", "dev_2-b", "--budget", "12g", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr


def test_an_argument_error_is_one_line_with_the_fix(tmp_path: Path) -> None:
    for args, expect in ((["plan", "--budgt", "3g"], "unrecognized arguments"), (["bogus"], "invalid choice")):
        r = run_cli(*args, cwd=tmp_path)
        err = r.stderr.strip()
        assert r.returncode == 2 and len(err.splitlines()) == 1, err
        assert expect in err and "Fix: see `devstack" in err and "--help" in err, err


@pytest.mark.parametrize("out", ["/proc/nope", "{tmp}/a-file/stack"])
def test_render_to_a_path_that_cannot_be_written_is_one_line(out: str, tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    target = out.format(tmp=tmp_path)
    r = run_cli("render", "--profile", "minimal", "--budget", "12g", "--out", target, cwd=tmp_path)
    err = r.stderr.strip()
    assert r.returncode == 2 and len(err.splitlines()) == 1 and "Traceback" not in r.stderr, err
    assert f"cannot write the stack to {target}" in err and "Fix:" in err, err
    assert "internal error" not in err


def _engine_mib() -> int | None:
    from devstack.runtime.host import host_facts

    e = host_facts().engine
    return e.mem_mib if e.reachable and e.mem_mib else None


@pytest.mark.engine
@pytest.mark.parametrize("command", ["plan", "up"])
def test_a_budget_above_the_engine_is_refused_unless_forced(command: str, tmp_path: Path) -> None:
    from devstack.core.units import fmt_mib
    from devstack.planning.plan import engine_reserve

    engine = _engine_mib()
    assert engine, "the engine reports no memory"
    budget = f"{engine // 1024 + 8}g"
    state = tmp_path / "state"
    env = {"XDG_STATE_HOME": str(state)}
    r = run_cli(command, "--services", "redis", "--budget", budget, "--stack", "e2e-toobig", cwd=tmp_path, env=env)
    err = r.stderr.strip()
    assert r.returncode == 2 and len(err.splitlines()) == 1 and "Traceback" not in r.stderr, (r.stdout, err)
    room = engine - engine_reserve(engine)
    assert f"more than the Docker engine can give ({fmt_mib(engine)}" in err and fmt_mib(room) in err, err
    assert f"--budget {room // 1024}g" in err and "--force" in err, err
    assert not state.exists()  # refused before anything was written
    if command == "plan":  # forced: planned, and the note says what it risks
        r = run_cli("plan", "--services", "redis", "--budget", budget, "--force", cwd=tmp_path, env=env)
        assert r.returncode == 0 and "OOM-killed" in r.stdout, r.stdout + r.stderr
