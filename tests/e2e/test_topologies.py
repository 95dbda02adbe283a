"""Topologies on the lab (issue 11), one 8-host lab and one apply for all of them: a rotating group (k = 2,
10 s epochs) measures every ordered pair within ceil(7/2) = 4 epochs and never runs more iperf3 processes on
a host than the schedule says, and its points are only those of the epoch's pairs; a hub-and-spoke group
and a two-site group measure exactly their planned edges."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from syntraf_probe.schedule import Schedule

from syntraf_ctl.compile import compile_inventory
from syntraf_ctl.lab.lifecycle import lab_down
from syntraf_ctl.lab.preflight import unmet_requirements
from syntraf_ctl.lab.tsdb import export
from tests.support.lab_control import Lab
from tests.support.testlabs import owned_lab_name, reap_abandoned_test_labs, up_on_free_subnet

pytestmark = pytest.mark.lab

HOSTS = [f"lab{n}" for n in range(1, 9)]
PEERS, EPOCH = 2, 10
TRAFFIC = {"interval": 1, "bandwidth": "20k", "packet_size": 100}
GROUPS = {
    "ring": {**TRAFFIC, "members": "all", "topology": {"kind": "rotating", "peers": PEERS, "epoch": EPOCH}},
    "star": {
        **TRAFFIC,
        "members": "lab1:lab2:lab3:lab4",
        "topology": {"kind": "hub_and_spoke", "hubs": "lab1"},
    },
    "pair": {
        **TRAFFIC,
        "members": "lab5:lab6:lab7:lab8",
        "topology": {"kind": "sites", "sites": ["lab5:lab6", "lab7:lab8"], "pairs": 1},
    },
}
SCHEDULE = Schedule(EPOCH, 0, PEERS, tuple(HOSTS))
# the ring group's probe's iperf3 children
PROCESSES = "pgrep -c -x -P $(systemctl show -P MainPID syntraf-probe@ring.service) iperf3"


class Deployed:
    def __init__(self, lab: Lab, inventory: Path, applied: float) -> None:
        self.lab, self.inventory, self.applied = lab, inventory, applied

    def points(self, group: str, since: float) -> dict[tuple[str, str], list[tuple[float, float]]]:
        """(src, dst) -> the up points of `group` since `since`."""
        found: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for item in export(self.lab.db_url, f'{{__name__="syntraf_up",group="{group}"}}', start=since):
            key = (item.labels["src"], item.labels["dst"])
            found.setdefault(key, []).extend(p for p in item.points if p[0] >= since)
        return found

    def ring_iperf3(self, host: str) -> int:
        """iperf3 processes the ring group's probe runs on `host` now."""
        output = self.lab.exec(host, ["sh", "-c", PROCESSES], check=False).stdout.strip()
        return int(output or 0)


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    problem = unmet_requirements()
    if problem:
        pytest.skip(f"lab tests: {problem}")
    reap_abandoned_test_labs()
    name = owned_lab_name("o")
    inventory = tmp_path_factory.mktemp("topologies") / "inventory"
    try:
        report = up_on_free_subnet(name, len(HOSTS), inventory, say=lambda m: None)
        # read after main.yml: these groups replace the lab's own
        settings = {"syntraf_mesh_groups": GROUPS}
        (inventory / "group_vars/all/topologies.yml").write_text(yaml.safe_dump(settings))
        done = subprocess.run(
            [sys.executable, "-m", "syntraf_ctl.cli", "apply", "-i", str(inventory)],
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr
        yield Deployed(Lab(report.state, report.failed_units), inventory, time.time())
    finally:
        lab_down(name, quiet=True)


def test_rotating_measures_every_pair_within_4_epochs_with_k_processes_at_a_time(deployed: Deployed) -> None:
    start = SCHEDULE.next_switch(deployed.applied)
    end = start + 4 * EPOCH
    most = dict.fromkeys(HOSTS, 0)
    while time.time() < end + 5:  # and the last points' flush
        for host in HOSTS:
            most[host] = max(most[host], deployed.ring_iperf3(host))
        time.sleep(0.5)
    # each host sends to k peers and receives from k: one iperf3 each, and the probe stops the epoch's
    # dropped edges before it starts the new ones, so a handover never adds any
    assert most == dict.fromkeys(HOSTS, 2 * PEERS), most
    points = deployed.points("ring", start)
    measured = {pair for pair, values in points.items() if any(v == 1 and t <= end for t, v in values)}
    assert measured == {(a, b) for a in HOSTS for b in HOSTS if a != b}
    for (src, dst), values in points.items():
        # a point is stamped at its interval's end: at most one interval after the epoch that ran it
        stray = [t for t, _ in values if (src, dst) not in SCHEDULE.active_pairs(SCHEDULE.epoch(t - 1))]
        assert not stray, f"{src}->{dst} measured outside its epochs at {stray}"


def test_hub_and_spoke_and_two_sites_measure_their_planned_edges_only(deployed: Deployed) -> None:
    plan = compile_inventory(str(deployed.inventory))
    hub = {("lab1", spoke) for spoke in ("lab2", "lab3", "lab4")}
    assert {(e.src, e.dst) for e in plan.edges if e.group == "star"} == hub | {(b, a) for a, b in hub}
    pair = {(e.src, e.dst) for e in plan.edges if e.group == "pair"}
    assert len(pair) == 6 and {("lab5", "lab6"), ("lab6", "lab5"), ("lab7", "lab8"), ("lab8", "lab7")} < pair
    since = deployed.applied
    deadline = time.time() + 30
    for group, planned in (("star", hub | {(b, a) for a, b in hub}), ("pair", pair)):
        while True:
            points = deployed.points(group, since)
            measured = {key for key, values in points.items() if any(v == 1 for _, v in values)}
            if measured >= planned or time.time() > deadline:
                break
            time.sleep(1)
        assert measured == planned and set(points) == planned, (group, sorted(points))
