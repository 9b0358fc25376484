"""The fidelity table covers every image devstack pins that the test bed stands in for, and says where each fact
came from (an upstream file at a tag). The stand-ins are checked against it in tests/e2e/test_testbed_fidelity.py."""

from __future__ import annotations

from devstack.planning.catalog import CATALOG, Runtime
from tests.fidelity import DIFFERENCE_KINDS, rows
from tests.fidelity_images import run_refs

# run in the k3d cluster, whose stand-ins are issue 16's; the registry k3d starts is stood in for already
CLUSTER_ONLY = {"k3s", "seldon_operator", "seldon_executor", "storage_initializer"}


def test_every_pinned_image_has_a_row_with_its_source() -> None:
    wanted = {
        ref
        for (name, key), ref in run_refs().items()
        if CATALOG[name].runtime == Runtime.COMPOSE or key not in CLUSTER_ONLY
    }
    table = {r.image: r for r in rows()}
    assert wanted <= set(table), sorted(wanted - set(table))
    for r in table.values():
        assert "@" in r.source or "tag" in r.source, f"{r.image}: say which file at which tag: {r.source}"
        assert set(r.differs) <= set(DIFFERENCE_KINDS), f"{r.image}: {r.differs}"
        assert all(r.differs.values()), f"{r.image}: each difference needs its reason: {r.differs}"
