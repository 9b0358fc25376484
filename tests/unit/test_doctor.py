"""Doctor's judgement is pure: facts as they look on a Mac Studio, a Linux box, and a machine without Docker."""

from __future__ import annotations

from devstack.lifecycle.doctor import Level, diagnose, worst
from devstack.runtime.host import EngineFacts, HostFacts, PortOwner

DESKTOP_8G = EngineFacts(
    cli="28.0.1",
    reachable=True,
    server_version="28.0.1",
    mem_mib=8 * 1024,
    cpus=8,
    operating_system="Docker Desktop",
    arch="arm64",
    compose="2.40.3",
)


def facts(engine: EngineFacts = DESKTOP_8G, **kw: object) -> HostFacts:
    base = dict(
        arch="arm64",
        os="Darwin 24.0",
        host_mib=32 * 1024,
        cpus=12,
        disk_free_mib=200 * 1024,
        disk_path="/Users/me",
        engine=engine,
        tools={"k3d": "5.8.3", "kubectl": "1.33.0", "helm": "3.17.0"},
    )
    base.update(kw)
    return HostFacts(**base)  # type: ignore[arg-type]


def by_check(findings: list, check: str):  # type: ignore[no-untyped-def]
    return next(f for f in findings if f.check == check)


def test_mac_with_small_docker_desktop_vm_gets_the_settings_fix() -> None:
    out = diagnose(facts(), profile="full", floors_mib=11 * 1024 + 512, budget_mib=None, ports={}, needs_k3d=True)
    mem = by_check(out, "engine memory")
    assert mem.level is Level.ERROR
    assert "Docker Desktop gives its VM 8 GiB" in mem.detail and "full profile needs" in mem.detail
    assert "Settings > Resources > Memory" in mem.fix
    assert worst(out) is Level.ERROR


def test_arm64_warns_about_emulated_seldon_images() -> None:
    out = diagnose(facts(), profile="ml", floors_mib=4096, budget_mib=6000, ports={}, needs_k3d=True)
    assert any(f.check == "image seldon" and f.level is Level.WARNING and "emulation" in f.detail for f in out)


def test_docker_not_running_is_one_error_with_the_fix() -> None:
    down = EngineFacts(cli="28.0.1", reachable=False, error="Cannot connect to the Docker daemon", compose="2.40.3")
    out = diagnose(
        facts(down, os="Linux 6.1", arch="amd64"),
        profile="minimal",
        floors_mib=1536,
        budget_mib=None,
        ports={},
        needs_k3d=False,
    )
    f = by_check(out, "docker engine")
    assert f.level is Level.ERROR and "systemctl start docker" in f.fix


def test_busy_port_names_holder_and_fix() -> None:
    out = diagnose(
        facts(busy_ports=(PortOwner(5432, "postgres (pid 812)"),)),
        profile="ml",
        floors_mib=4096,
        budget_mib=6000,
        ports={5432: "postgres.sql"},
        needs_k3d=False,
    )
    f = by_check(out, "port 5432")
    assert f.level is Level.ERROR and "postgres (pid 812)" in f.detail and "services.postgres.ports" in f.fix


def test_missing_compose_and_k3d_when_seldon_needs_it() -> None:
    eng = EngineFacts(cli="28.0.1", reachable=True, mem_mib=32 * 1024, operating_system="Ubuntu", compose=None)
    out = diagnose(
        facts(eng, tools={"k3d": None, "kubectl": "1.33.0", "helm": None}),
        profile="full",
        floors_mib=12 * 1024,
        budget_mib=20 * 1024,
        ports={},
        needs_k3d=True,
    )
    assert by_check(out, "compose").level is Level.ERROR
    assert by_check(out, "k3d").level is Level.ERROR and by_check(out, "helm").level is Level.ERROR


def test_healthy_linux_box_is_ok() -> None:
    eng = EngineFacts(
        cli="28.2.2",
        reachable=True,
        server_version="28.2.2",
        mem_mib=24 * 1024,
        cpus=2,
        operating_system="Debian GNU/Linux 12",
        arch="amd64",
        compose="2.40.3",
    )
    out = diagnose(
        facts(eng, arch="amd64", os="Linux", host_mib=24 * 1024, tools={}),
        profile="minimal",
        floors_mib=1536,
        budget_mib=8192,
        ports={9092: "kafka.broker"},
        needs_k3d=False,
    )
    assert worst(out) is Level.OK
