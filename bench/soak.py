"""Soak benchmark on the WAN lab: the real probe, deployed by `syntraf-ctl apply`, measuring across a long
lossy path for a long time; what it stored against the emulator's ground truth, and what it cost.

Sites a and b (2 hosts each), one-way delay 75 ms each way (RTT 150 ms), 0.5 % random loss between them,
the VoIP profile (50 pps of 172 B, DSCP ef) every 1 s, 60 s bounded tests. Prints false outages (`up=0`
points: the path never goes down; target 0), |Σlost − truth| per edge (target: at most one per test
boundary), and each probe's CPU and RSS (as bench/probe_load.py measures them).

    sudo .venv/bin/python bench/soak.py [--minutes 30] [--warmup 30]
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout: tests.support (test labs)

from probe_load import snapshot  # the same CPU/RSS figures as the load benchmark

from syntraf_ctl.cli import main as ctl
from syntraf_ctl.compile import compile_inventory
from syntraf_ctl.lab import processes
from syntraf_ctl.lab.cgroups import CGROUP_GROUP
from syntraf_ctl.lab.lab_inventory import update_settings
from syntraf_ctl.lab.lifecycle import lab_down
from syntraf_ctl.lab.preflight import unmet_wan_requirements
from syntraf_ctl.lab.state import LabState
from syntraf_ctl.lab.wan.control import set_links, show
from tests.support import wan_ledger as ledger
from tests.support.testlabs import owned_lab_name, reap_abandoned_test_labs, up_on_free_subnet
from tests.support.wan_influx import influxdb, write_to_both

SITES = {"a": 2, "b": 2}
TEST_DURATION = 60
LOSS = "0.5%"
MESH_GROUPS = {"voip": {"profile": "g711"}}  # the lab's g711 profile: 50 pps, 172 B, ef, every 1 s


def probe_supervisors(state: LabState) -> dict[str, int]:
    """host -> pid (on this machine) of its probe's supervisor (python ... --config .../voip.json)."""
    found = {}
    for host in state.hosts:
        for pid in processes.pids_in_cgroup(f"/{CGROUP_GROUP}/{host.machine}/"):
            argv = processes.cmdline(pid)
            if any("python" in arg for arg in argv[:1]) and "--config" in argv:
                found[host.name] = pid
    return found


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=30, help="how long the lossy path is measured")
    parser.add_argument("--warmup", type=float, default=30, help="seconds after apply before measuring")
    args = parser.parse_args()
    problem = unmet_wan_requirements()
    if problem:
        print(problem, file=sys.stderr)
        return 2
    reap_abandoned_test_labs()
    name = owned_lab_name("s")
    inventory = Path(tempfile.mkdtemp(prefix="syntraf-soak-")) / "inventory"
    influx_dir = Path(tempfile.mkdtemp(prefix="syntraf-soak-influxdb-"))
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, influx_dir, ignore_errors=True)
        stack.callback(shutil.rmtree, inventory.parent, ignore_errors=True)
        stack.callback(lab_down, name, quiet=True)
        state = up_on_free_subnet(
            name, sum(SITES.values()), inventory, sites=SITES, wan=("a-b delay=75ms",)
        ).state
        # what InfluxDB keeps (the last write of a point), not what VictoriaMetrics picks
        database = stack.enter_context(influxdb(influx_dir, state.bridge_address))
        write_to_both(inventory, state, database)
        update_settings(
            inventory, {"syntraf_mesh_groups": MESH_GROUPS, "syntraf_test_duration": TEST_DURATION}
        )
        if ctl(["apply", "-i", str(inventory)]) != 0:
            print("apply failed", file=sys.stderr)
            return 1
        edges = compile_inventory(str(inventory)).edges
        time.sleep(args.warmup)
        supervisors = probe_supervisors(state)
        if len(supervisors) != len(state.hosts):
            print(f"probe supervisors found: {supervisors} (one per host expected)", file=sys.stderr)
            return 1
        first = {host: snapshot(pid) for host, pid in supervisors.items()}
        before = ledger.drops(state, show(state), edges)
        start = time.time()
        set_links(state, "a-b", [f"loss={LOSS}"])
        peak_rss = dict.fromkeys(supervisors, 0.0)
        while time.time() < start + args.minutes * 60:
            for host, pid in supervisors.items():
                current = snapshot(pid)
                peak_rss[host] = max(peak_rss[host], current["rss"] + current["kid_rss"])
            time.sleep(5)
        set_links(state, "a-b", ["loss=0%"])
        end = time.time()
        last = {host: snapshot(pid) for host, pid in supervisors.items()}
        time.sleep(5)  # the last lossy intervals end and are flushed
        stored = database.stored(start - 1, end + 3)
        after = ledger.drops(state, show(state), edges)
        boundaries = int((end - start) // TEST_DURATION) + 1
        print(f"soak: {end - start:.0f} s, RTT 150 ms, loss {LOSS}, 1 s intervals, {TEST_DURATION} s tests")
        print(f"{'edge':<14} {'rtt':>4} {'points':>6} {'up=0':>5} {'Σlost':>6} {'truth':>6} {'|diff|':>6}")
        false_outages = 0
        worst = 0.0
        for edge in edges:
            item, truth = stored.get(edge.key, ledger.Stored()), after[edge.key] - before[edge.key]
            false_outages += item.outages
            worst = max(worst, abs(item.lost - truth))
            print(
                f"{edge.src + '->' + edge.dst:<14} {ledger.rtt_ms(state, edge):>4.0f} {item.points:>6}"
                f" {item.outages:>5} {item.lost:>6.0f} {truth:>6} {abs(item.lost - truth):>6.0f}"
            )
        print(f"false outages (up=0 points): {false_outages} (target 0)")
        print(
            f"worst |Σlost - truth|: {worst:.0f}, for {boundaries} test boundaries (target <= {boundaries})"
        )
        elapsed = end - start
        for host in supervisors:
            cpu = 100 * (last[host]["cpu"] - first[host]["cpu"]) / elapsed
            total = cpu + 100 * (last[host]["kid_cpu"] - first[host]["kid_cpu"]) / elapsed
            print(
                f"{host}: supervisor CPU {cpu:.2f} % of a core, RSS {last[host]['rss']:.1f} MB;"
                f" with {last[host]['kids']} iperf3: CPU {total:.2f} %, RSS peak {peak_rss[host]:.1f} MB"
            )
        return 0


if __name__ == "__main__":
    sys.exit(main())
