"""The end-to-end modules' stacks may run side by side (two xdist workers), each on its own fixed port shift
(tests/shifted_stack.py). Checked here, before any engine: no two shifts give the same host port, and every shifted
port is in the range the test bed keeps out of the kernel's ephemeral ports (tests/testbed/reserve_ports.sh). CI met
both: a shift whose MinIO was another's ClickHouse, and Prometheus's port held by a client connection."""

from __future__ import annotations

import ast
from itertools import combinations

from devstack.planning.catalog import CATALOG
from tests.conftest import REPO

E2E = REPO / "tests" / "e2e"
RESERVED = REPO / "tests" / "testbed" / "reserved_ports"
BROKERS = 3  # Kafka's seed replica count: brokers 2 and 3 take the ports after the first's


def _shifts() -> dict[str, tuple[int, set[int]]]:
    """Each e2e module's module-level `SHIFT = <int>`, and the ports it names outside the catalog as `<int> +
    SHIFT` (the demo's model server, test_addons' registry), read without importing the module."""
    found: dict[str, tuple[int, set[int]]] = {}
    for path in sorted(E2E.glob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["SHIFT"]:
                assert isinstance(node.value, ast.Constant) and isinstance(node.value.value, int), path
                named = {
                    n.left.value
                    for n in ast.walk(tree)
                    if isinstance(n, ast.BinOp)
                    and isinstance(n.op, ast.Add)
                    and isinstance(n.left, ast.Constant)
                    and isinstance(n.left.value, int)
                    and getattr(n.right, "id", None) == "SHIFT"
                }
                found[path.stem] = (node.value.value, named)
    return found


def _ports(shift: int, named: set[int]) -> set[int]:
    """Every host port a stack of any services could publish at this shift (all of the catalog: stricter than
    the module's own services, so adding a service to a module's stack cannot make a collision), and the module's
    own named ones."""
    ports = {p + shift for p in named}
    for spec in CATALOG.values():
        for p in spec.ports:
            ports |= {p.host + i + shift for i in range(BROKERS if p.per_replica else 1)}
    return ports


def test_the_shifted_stacks_share_no_port() -> None:
    shifts = _shifts()
    assert len(shifts) >= 10, shifts  # the parse found them
    assert any(named for _, named in shifts.values()), shifts  # and the ports named beside the catalog's
    for (a, (sa, na)), (b, (sb, nb)) in combinations(shifts.items(), 2):
        both = sorted(_ports(sa, na) & _ports(sb, nb))
        assert not both, f"{a} (shift {sa}) and {b} (shift {sb}) both publish {both}"


def test_every_shifted_port_is_reserved_from_ephemeral_use() -> None:
    lo, hi = (int(x) for x in RESERVED.read_text().strip().split("-"))
    for module, (shift, named) in _shifts().items():
        outside = sorted(p for p in _ports(shift, named) if not lo <= p <= hi)
        assert not outside, f"{module} (shift {shift}) publishes {outside} outside {RESERVED.name} {lo}-{hi}"
