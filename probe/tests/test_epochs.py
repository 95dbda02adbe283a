"""A rotating group's probe switches its edges by the clock: a real probe process with real iperf3 listeners
on loopback runs exactly the current epoch's edges, and never more iperf3 children than the schedule says."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time

import pytest
from labkit import ProbeProcess, config, edge, wait_for
from syntraf_probe.schedule import Schedule

pytestmark = pytest.mark.skipif(shutil.which("iperf3") is None, reason="iperf3 is not installed")
MEMBERS = ("a", "b", "c", "d")
EPOCH = 10  # seconds (the shortest epoch): 3 epochs cover every pair of 4 members with k = 1
HANDOVER = 1.0  # seconds after a boundary in which the old epoch's children may still be stopping


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def listening_port(argv: list[str]) -> int | None:
    return int(argv[argv.index("-p") + 1]) if "-s" in argv else None


def test_the_probe_runs_each_epochs_edges_and_no_more(tmp_path):
    addresses = dict.fromkeys(MEMBERS, "127.0.0.1")
    ports = iter(free_ports(6))
    # a sends to every other member (a listens: reverse mode) and receives from them (their listeners do
    # not exist: those initiators are refused and retried, but still count while they run)
    edges = [edge(addresses, "g", "a", peer, next(ports)) for peer in MEMBERS[1:]]
    edges += [edge(addresses, "g", peer, "a", next(ports)) for peer in MEMBERS[1:]]
    schedule = Schedule(EPOCH, 0, 1, MEMBERS)
    cfg = config(tmp_path, "a", "g", edges, "http://127.0.0.1:1")
    cfg["schedule"] = {"epoch_seconds": EPOCH, "origin": 0, "peers": 1, "members": list(MEMBERS)}
    port_of = {(e["src"], e["dst"]): e["port"] for e in edges}
    probe = ProbeProcess(tmp_path, cfg)
    seen: dict[int, set[int]] = {}
    try:
        wait_for(lambda: probe.children(), 20, step=0.1, what="the first iperf3 child")
        start = time.time()
        first = schedule.epoch(start)  # partly seen; the three after it wholly (not min(seen): under load
        end = schedule.next_switch(start) + 3 * EPOCH  # the first look may already fall in the next one)
        while time.time() < end:
            now = time.time()
            children = probe.children().values()
            assert len(children) <= 2, f"more iperf3 children than k out + k in: {children}"
            epoch = schedule.epoch(now)
            if now - epoch * EPOCH > HANDOVER and schedule.epoch(time.time()) == epoch:
                expected = {port_of[p] for p in schedule.pairs_of("a", epoch) if p[0] == "a"}
                listening = {listening_port(argv) for argv in children} - {None}
                assert listening <= expected, (epoch, listening, expected)
                seen.setdefault(epoch, set()).update(listening)
            time.sleep(0.2)
    finally:
        assert probe.stop() == 0
    full = [ports for epoch, ports in seen.items() if epoch != first]
    assert set().union(*full) == {port_of[("a", peer)] for peer in MEMBERS[1:]}, seen
    assert all(len(ports) == 1 for ports in full), seen
    assert "epoch" in probe.log_text()


def test_an_edge_out_of_its_epoch_stays_in_the_state_file_with_its_last_sample(tmp_path):
    """b -> a runs in every other epoch (3 members, k = 1): measured against a real iperf3 listener, then
    kept in a's state file as `idle` with its last sample while the schedule runs c -> a instead."""
    members = ("a", "b", "c")
    addresses = dict.fromkeys(members, "127.0.0.1")
    (port,) = free_ports(1)
    schedule = Schedule(EPOCH, 0, 1, members)
    listener = subprocess.Popen(
        ["iperf3", "-s", "-p", str(port), "-B", "127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    cfg = config(tmp_path, "a", "g", [edge(addresses, "g", "b", "a", port)], "http://127.0.0.1:1")
    cfg["schedule"] = {"epoch_seconds": EPOCH, "origin": 0, "peers": 1, "members": list(members)}
    probe = ProbeProcess(tmp_path, cfg)

    def entry() -> dict | None:
        found = [e for e in probe.state()["edges"] if (e["src"], e["dst"]) == ("b", "a")]
        return found[0] if found else None

    def idle() -> dict | None:
        current = entry() if (tmp_path / "a.state.json").exists() else None
        return current if current is not None and current["state"] == "idle" else None

    try:
        idle_entry = wait_for(idle, 6 * EPOCH, step=0.2, what="b -> a idle with its last sample")
        sample = idle_entry["last_sample"]
        assert sample["up"] == 1 and sample["packets"] > 0
        # stamped at its interval's end (1 s): in an epoch that ran b -> a, the latest one before the state
        assert ("b", "a") in schedule.pairs_of("a", schedule.epoch(sample["time"] - 1)), sample
        assert probe.state()["updated"] - sample["time"] < 2 * EPOCH
        wait_for(
            lambda: entry()["state"] != "idle", 2 * EPOCH, step=0.2, what="b -> a running in its next epoch"
        )
    finally:
        assert probe.stop() == 0
        listener.terminate()
        listener.wait()
