"""`wan_network`: the network of a WAN lab (host namespaces, site routers, the core and its delay line)
without containers or database, for the tests of the network itself. Sites a (2 hosts), b, c (behind NAT),
with one-way delays a-b 20 ms, a-c 75 ms, b-c 150 ms; always taken down, also when a test fails."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from wan_labs import require_wan

from syntraf_ctl.lab.lifecycle import lab_down, network_up
from syntraf_ctl.lab.rootfs import DEFAULT_SUITE
from syntraf_ctl.lab.state import DEFAULT_DB_PORT, LabState, plan_lab
from syntraf_ctl.lab.wan import topology
from tests.support.testlabs import on_free_subnet, owned_lab_name, reap_abandoned_test_labs

SITES = {"a": 2, "b": 1, "c": 1}  # lab1, lab2 in a; lab3 in b; lab4 in c
NAT_SITES = ["c"]
DELAYS = ["a-b delay=20ms", "a-c delay=75ms", "b-c delay=150ms"]


@pytest.fixture(scope="session")
def wan_network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabState]:
    require_wan()
    reap_abandoned_test_labs()
    name = owned_lab_name("w")
    nodes = sum(SITES.values())

    def start(subnet: str) -> LabState:
        inventory = tmp_path_factory.mktemp("wan") / "inventory"
        state = plan_lab(name, nodes, subnet, [DEFAULT_SUITE] * nodes, DEFAULT_DB_PORT, inventory)
        topology.plan_sites(state, SITES, NAT_SITES, DELAYS)
        network_up(state)
        return state

    try:
        yield on_free_subnet(start)
    finally:
        lab_down(name, quiet=True)
