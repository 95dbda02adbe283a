"""Two real probes, one per namespace, measuring each other with real iperf3 into a real VictoriaMetrics."""

from __future__ import annotations

import contextlib
import os
import signal
import time

import pytest
from labkit import ProbeProcess, config, edge, gaps, points, wait_for

from syntraf_ctl.lab.network import netns_run, nft_apply, nft_delete_table
from syntraf_ctl.lab.tsdb import export, start_victoria_metrics

pytestmark = pytest.mark.netns

FIELDS = {"bitrate_bps", "jitter_ms", "packets", "lost", "loss_pct", "up"}


@contextlib.contextmanager
def two_probes(lab, tmp, group, edges, db_url=None, test_duration=300):
    url = db_url or lab["url"]
    probes = {}
    try:
        for host in ("a", "b"):
            cfg = config(tmp, host, group, edges, url, lab["addresses"][host], test_duration)
            probes[host] = ProbeProcess(tmp, cfg, lab["ns"][host])
        yield probes
    finally:
        codes = {host: probe.stop() for host, probe in probes.items()}
        for host, probe in probes.items():
            print(f"--- probe {host} log\n{probe.log_text()}")
        assert codes == {host: 0 for host in probes}, "SIGTERM must stop a probe with status 0"


def measuring(lab, group, start, keys, count=1):
    def check():
        got = points(lab["url"], group, start)
        return all(sum(v for _, v in got.get(k, {}).get("up", [])) >= count for k in keys) and got

    return check


def test_multi_edge_run_delivers_every_interval_with_all_fields(lab, tmp):
    group = "multi"
    edges = [
        edge(lab["addresses"], group, "a", "b", 15101, "reverse"),
        edge(lab["addresses"], group, "b", "a", 15102, "forward"),
    ]
    start = time.time()
    with two_probes(lab, tmp, group, edges):
        wait_for(measuring(lab, group, start, [("a", "b"), ("b", "a")], 8), 30, what="8 measured intervals")
    got = points(lab["url"], group, start)
    for key in [("a", "b"), ("b", "a")]:
        assert set(got[key]) == FIELDS, key
        times = [t for t, _ in got[key]["up"]]
        up = [v for _, v in got[key]["up"]]
        assert all(0.8 <= gap <= 1.2 for gap in gaps(times)), (key, gaps(times))
        assert up[-6:] == [1] * 6, (key, up)
        packets = [v for _, v in got[key]["packets"]][-6:]
        assert all(48 <= p <= 52 for p in packets), packets
        bitrate = [v for _, v in got[key]["bitrate_bps"]][-6:]
        assert all(60000 <= b <= 78000 for b in bitrate), bitrate


def test_bounded_tests_restart_back_to_back_without_losing_an_interval(lab, tmp):
    group = "bounded"
    edges = [
        edge(lab["addresses"], group, "a", "b", 15121, "reverse"),
        edge(lab["addresses"], group, "b", "a", 15122, "forward"),
    ]
    start = time.time()
    with two_probes(lab, tmp, group, edges, test_duration=3):  # a test boundary every 3 intervals
        wait_for(measuring(lab, group, start, [("a", "b"), ("b", "a")], 14), 40, what="14 measured intervals")
    got = points(lab["url"], group, start)
    for key in [("a", "b"), ("b", "a")]:
        up = [v for _, v in got[key]["up"]]
        first = up.index(1)
        measured = got[key]["up"][first:]
        assert len(measured) >= 14, (key, up)
        # the probe stops its listener first: an initiator left alone may write its last interval as an outage
        assert [v for _, v in measured[:-1]] == [1] * (len(measured) - 1), (key, up)
        times = [t for t, _ in measured]
        assert all(0.8 <= gap <= 1.25 for gap in gaps(times)), (key, gaps(times))


def test_random_loss_sum_equals_nftables_drop_counter(lab, tmp):
    group = "loss"
    port = 15111
    edges = [edge(lab["addresses"], group, "a", "b", port, "reverse")]
    start = time.time()
    # only data datagrams (180 bytes of UDP), not the 4-byte UDP handshake, so tests always start. One rule
    # per line: nft ends a rule at a newline, and a drop split onto its own line would hit every packet.
    # The named counter outlives the rule, so it is read after dropping stopped: no drop escapes the count.
    address = lab["addresses"]["a"]
    match = f"ip saddr {address} udp sport {port} udp length > 100"
    ruleset = (
        "table inet chaos {\n counter lost {}\n chain input {\n  type filter hook input priority 0;\n"
        f"  {match} numgen random mod 100 < 7 counter name lost drop\n }}\n}}\n"
    )
    b = lab["ns"]["b"]
    with two_probes(lab, tmp, group, edges):
        wait_for(measuring(lab, group, start, [("a", "b")], 2), 30, what="measuring")
        applied = time.time()
        nft_apply(b, ruleset)
        try:
            time.sleep(20)
            netns_run(b, ["nft", "flush", "chain", "inet", "chaos", "input"])
            listing = netns_run(b, ["nft", "list", "counter", "inet", "chaos", "lost"]).stdout
        finally:
            nft_delete_table(b, "inet", "chaos")
        # loss is only seen when a later datagram arrives: let the last drops be noticed before stopping
        time.sleep(3)
        until = time.time()  # after this the probes stop, and a receiver whose sender stopped sees an outage
    dropped = int(listing.split("packets ")[1].split()[0])
    got = points(lab["url"], group, start)[("a", "b")]
    # from the first interval that can contain a drop (before it: start-up, no traffic yet is an outage)
    lost = sum(v for t, v in got["lost"] if applied < t <= until)
    assert dropped > 20, listing
    assert lost == dropped, f"stored lost {lost}, nftables dropped {dropped}"
    assert {v for t, v in got["up"] if applied < t <= until} == {1}


def test_partition_outage_points_and_recovery_without_double_count(lab, tmp):
    group = "partition"
    edges = [
        edge(lab["addresses"], group, "a", "b", 15121, "reverse"),
        edge(lab["addresses"], group, "b", "a", 15122, "forward"),
    ]
    start = time.time()
    peer = {"a": lab["addresses"]["b"], "b": lab["addresses"]["a"]}
    with two_probes(lab, tmp, group, edges):
        wait_for(measuring(lab, group, start, [("a", "b"), ("b", "a")], 3), 30, what="measuring")
        cut = time.time()
        for host in ("a", "b"):
            nft_apply(
                lab["ns"][host],
                f"table inet part {{ chain input {{ type filter hook input priority 0; policy accept;"
                f" ip saddr {peer[host]} drop\n}}\n}}\n",
            )
        try:
            time.sleep(10)
        finally:
            for host in ("a", "b"):
                nft_delete_table(lab["ns"][host], "inet", "part")
        healed = time.time()
        wait_for(
            measuring(lab, group, healed, [("a", "b"), ("b", "a")], 3), 30, what="measuring after healing"
        )
    got = points(lab["url"], group, start)
    for key in [("a", "b"), ("b", "a")]:
        ups = got[key]["up"]
        first_down = next(t for t, v in ups if v == 0 and t > cut)
        assert first_down <= cut + 2.3, (key, first_down - cut)
        back = next(t for t, v in ups if v == 1 and t > healed)
        assert back <= healed + 12, (key, back - healed)
        measured_from = next(t for t, v in ups if v == 1)  # before it: start-up, the peer not up yet
        outage = [t for t, v in ups if v == 0 and t > measured_from]
        assert all(cut <= t <= healed + 8 for t in outage), (key, [t - cut for t in outage])
        # one point per interval, also through the outage and the restart
        times = [t for t, _ in ups]
        assert all(0.5 <= gap <= 2.5 for gap in gaps(times)), (key, gaps(times))
        # what was lost is about the partition's length at 50 packets/s, not twice that
        lost = sum(v for t, v in got[key]["lost"] if t > measured_from)
        assert 0.7 * 10 * 50 <= lost <= 1.3 * (healed - cut) * 50 + 100, (key, lost)
        pct = {v for t, v in got[key]["loss_pct"] if t in outage}
        assert pct == {100.0}, (key, pct)


def test_database_down_for_60_s_every_interval_arrives_exactly_once(lab, tmp):
    group = "dbdown"
    edges = [edge(lab["addresses"], group, "a", "b", 15131), edge(lab["addresses"], group, "b", "a", 15132)]
    host = lab["url"].split("//")[1].split(":")[0]
    listen = f"{host}:{21000 + os.getpid() % 20000}"
    url = f"http://{listen}"
    database = start_victoria_metrics(tmp / "vm", listen, tmp / "vm.log")
    start = time.time()
    try:
        with two_probes(lab, tmp, group, edges, db_url=url):
            wait_for(lambda: len(points(url, group, start)) == 2, 30, what="both edges in the database")
            database.kill()
            database.wait()
            time.sleep(60)
            database = start_victoria_metrics(tmp / "vm", listen, tmp / "vm.log")
            time.sleep(12)  # replay
        got = points(url, group, start)
    finally:
        database.kill()
        database.wait()
    for key in [("a", "b"), ("b", "a")]:
        times = [t for t, _ in got[key]["up"]]
        assert len(times) == len(set(times)), f"{key}: duplicates"
        assert len(times) >= 65, (key, len(times))  # ~75 s from the first point to the stop
        assert all(0.5 <= gap <= 1.5 for gap in gaps(times)), (key, gaps(times))
        assert sum(v for _, v in got[key]["up"]) >= len(times) - 4, key  # measuring all along


def probe_pids(probe) -> dict:
    """port -> pid of this probe's iperf3 children."""
    return {argv[argv.index("-p") + 1]: pid for pid, argv in probe.children().items() if "-p" in argv}


def test_sighup_restarts_only_the_changed_edge_and_a_killed_child_is_restarted(lab, tmp):
    group = "reload"
    edges = [edge(lab["addresses"], group, "a", "b", 15141), edge(lab["addresses"], group, "b", "a", 15142)]
    start = time.time()
    with two_probes(lab, tmp, group, edges) as probes:
        wait_for(measuring(lab, group, start, [("a", "b"), ("b", "a")], 3), 30, what="measuring")
        before = probe_pids(probes["b"])
        edges[1] = {**edges[1], "dscp": 10}  # b->a changes
        for host, probe in probes.items():
            cfg = config(tmp, host, group, edges, lab["url"], lab["addresses"][host])
            cfg["revision"] = "rev2"
            probe.reload(cfg)
        reloaded = time.time()
        wait_for(
            lambda: any(k == ("b", "a") for k in points(lab["url"], group, reloaded)),
            20,
            what="b->a after reload",
        )
        time.sleep(4)
        after = probe_pids(probes["b"])
        assert before["15141"] == after["15141"], "the unchanged edge's iperf3 was restarted"
        assert before["15142"] != after["15142"], "the changed edge's iperf3 was not restarted"
        os.kill(after["15141"], signal.SIGKILL)
        killed = time.time()
        time.sleep(6)
        assert probe_pids(probes["b"]).get("15141") not in (None, after["15141"])
        state = probes["b"].state()
        assert state["revision"] == "rev2"
        assert state["health"]["restarts"] >= 1
        wait_for(measuring(lab, group, killed + 1, [("a", "b")], 2), 20, what="measuring after the kill")
    got = export(lab["url"], f'{{__name__="syntraf_up",group="{group}"}}', start)
    unchanged = next(s for s in got if s.labels["src"] == "a")
    times = [t for t, _ in unchanged.points if t < killed]
    assert all(0.8 <= gap <= 1.2 for gap in gaps(times)), gaps(times)  # no gap through the reload
    changed = {s.labels["dscp"] for s in got if s.labels["src"] == "b"}
    assert changed == {"46", "10"}
