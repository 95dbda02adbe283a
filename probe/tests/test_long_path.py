"""Real iperf3 over a long path (a delaying relay on loopback, tests/relay.py): short bounded tests, so many
boundaries. A clean test boundary is never an outage, and the stored loss is the relay's drop count."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import time

import pytest
from labkit import config, edge
from relay import Relay
from syntraf_probe.config import parse_config
from syntraf_probe.iperf3 import detect_version
from syntraf_probe.supervisor import EdgeRunner

IPERF3 = shutil.which("iperf3")
pytestmark = pytest.mark.skipif(IPERF3 is None, reason="iperf3 is not installed")
ONE_WAY = 0.12  # seconds each way: 240 ms RTT, where the review saw a false outage at every boundary
RELAY, LISTENER = "127.0.0.2", "127.0.0.3"
DROP_EVERY = 23  # of the listener's data datagrams


def free_port() -> int:
    with socket.socket() as tcp, socket.socket(type=socket.SOCK_DGRAM) as udp:
        tcp.bind((RELAY, 0))
        port = tcp.getsockname()[1]
        udp.bind((LISTENER, port))  # free on both addresses, for TCP and UDP
        return port


def sequence(datagram: bytes) -> int:
    """iperf3's datagram number (with --udp-counters-64bit: after two 32-bit time fields)."""
    return int.from_bytes(datagram[8:16], "big")


def measure(tmp_path, interval: float, duration: int, dropping: float) -> tuple[list, Relay, int]:
    """Run the receiving side of one reverse edge through the relay; the relay drops one data datagram in
    DROP_EVERY for `dropping` seconds, then the edge runs one more test and a boundary so that every drop
    was in a test that ended and reported it. Returns the samples, the relay and how many tests ran."""
    port = free_port()
    edges = [edge({"a": RELAY, "b": "127.0.0.1"}, "g", "a", "b", port, interval=interval)]
    cfg = parse_config(
        json.dumps(config(tmp_path, "b", "g", edges, "http://127.0.0.1:1", test_duration=duration)), "g"
    )
    samples: list = []
    state = {"dropping": True}

    def drop(datagram: bytes) -> bool:
        return state["dropping"] and len(datagram) >= 16 and sequence(datagram) % DROP_EVERY == 5

    listener = subprocess.Popen(
        [IPERF3, "-s", "-B", LISTENER, "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )

    tests: list = []

    async def run(runner: EdgeRunner) -> None:
        started = runner.meter.on_test_started
        runner.meter.on_test_started = lambda now: (tests.append(now), started(now))
        runner.start()
        end_drops = time.monotonic() + dropping
        while time.monotonic() < end_drops + duration + 2 * interval + 1.5:
            if time.monotonic() >= end_drops:
                state["dropping"] = False
            runner.tick(time.monotonic())
            await asyncio.sleep(0.05)
        await runner.stop()

    try:
        with Relay((RELAY, port), (LISTENER, port), ONE_WAY, drop) as relay:
            time.sleep(0.2)  # the listener is up
            runner = EdgeRunner(cfg, cfg.edges[0], detect_version(IPERF3), lambda e, s: samples.extend(s))
            asyncio.run(run(runner))
    finally:
        listener.kill()
        listener.wait()
    return samples, relay, len(tests)


@pytest.mark.parametrize("interval,duration,dropping", [(1.0, 3, 12.0), (0.2, 2, 9.0)])
def test_boundaries_on_a_240_ms_rtt_path_are_not_outages_and_loss_is_the_relays(
    tmp_path, interval, duration, dropping
):
    samples, relay, tests = measure(tmp_path, interval, duration, dropping)
    final = list({s.time: s for s in samples}.values())  # a rewritten point replaces the first
    up0, lost = sum(s.up == 0 for s in final), sum(s.lost for s in final)
    print(f"{interval} s, {tests} tests, {len(final)} points, up=0 {up0}, lost {lost}, drops {relay.dropped}")
    assert tests >= 4
    assert [s for s in final if s.up == 0] == []
    assert sum(s.lost for s in final) == relay.dropped
