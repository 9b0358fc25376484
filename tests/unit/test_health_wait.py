"""wait_healthy says where a start spent its time: the phases of health.WAITED_ON, as `up --json` reports them.
The probe and the engine's view are scripted here; the real ones run in the e2e tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devstack.planning.plan import PlanRequest, make_plan
from devstack.runtime import health
from devstack.runtime.health import NotReady, Probe, wait_healthy


@pytest.fixture
def plan():  # type: ignore[no-untyped-def]
    return make_plan(PlanRequest("test", ("redis",), budget_mib=2048))


def _script(*states: NotReady | None) -> Iterator[NotReady | None]:
    yield from states
    while True:
        yield None


def test_each_phase_is_counted_in_order(plan, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    seen = _script(
        NotReady("compose", "docker compose up is still (re)creating containers"),
        NotReady("container", "redis is created"),
        NotReady("container", "redis is created"),
        NotReady("healthcheck", "redis's healthcheck says starting"),
    )
    answers = iter([Probe("redis", False, "NOAUTH"), Probe("redis", True, "PONG")])
    monkeypatch.setitem(health.PROBES, "redis", lambda p, s: next(answers))
    updates: list[Probe] = []
    got = wait_healthy(
        plan,
        {},
        exited=lambda n: None,
        progressing=lambda n: True,
        not_ready=lambda n: next(seen),
        on_update=updates.append,
        interval=0.01,
    )["redis"]
    assert got.ok and got.detail == "PONG"
    assert [ph for ph, _ in got.waited] == ["compose", "container", "healthcheck", "probe"]
    assert all(s >= 0 for _, s in got.waited)
    assert sum(s for _, s in got.waited) == pytest.approx(got.seconds, abs=0.2)
    # every look is reported as it happens, with the phases so far
    assert len(updates) == 6 and [ph for ph, _ in updates[0].waited] == ["compose"]


def test_a_service_that_exits_keeps_what_it_waited_on(plan, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    looks = iter([None, "redis exited with code 1"])
    got = wait_healthy(
        plan,
        {},
        exited=lambda n: next(looks),
        progressing=lambda n: False,
        not_ready=lambda n: NotReady("container", "redis is restarting"),
        interval=0.01,
    )["redis"]
    assert not got.ok and got.detail == "redis exited with code 1"
    assert [ph for ph, _ in got.waited] == ["container"]


def test_a_service_without_a_container_yet_is_not_ready_whatever_answers_its_port() -> None:
    # found with a fresh stack on a busy machine: the engine's first listing predates Compose's containers, and
    # Redis answered AUTH + PING on its port before its healthcheck had run, so `up` returned while Compose still
    # called Redis "starting" and Prometheus had not loaded a target yet
    from devstack.lifecycle.stack import Watch
    from devstack.runtime.engine.containers import ContainerState

    class Engine:
        def __init__(self) -> None:
            self.listing: list[ContainerState] = []

        def containers(self) -> list[ContainerState]:
            return list(self.listing)

    engine = Engine()
    watch = Watch(engine, every=0)  # type: ignore[arg-type]
    assert watch.not_ready("redis") == NotReady("compose", "redis has no container yet")
    engine.listing = [ContainerState("id", "p-redis-1", "redis", "redis", "running", "starting", 0, 0, False, 0)]
    assert watch.not_ready("redis") == NotReady("healthcheck", "redis's healthcheck says starting")
    engine.listing = [ContainerState("id", "p-redis-1", "redis", "redis", "running", "healthy", 0, 0, False, 0)]
    assert watch.not_ready("redis") is None
