"""One edge's runner with real iperf3 on loopback: failures that must not end an edge or be miscounted."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import time

import pytest
from labkit import config, edge
from syntraf_probe import edge_runner
from syntraf_probe.config import parse_config
from syntraf_probe.edge_runner import EdgeRunner, network_failure
from syntraf_probe.iperf3 import detect_version
from syntraf_probe.listener_watch import ListenerWatch

IPERF3 = shutil.which("iperf3")
pytestmark = pytest.mark.skipif(IPERF3 is None, reason="iperf3 is not installed")
LOCAL = {"a": "127.0.0.1", "b": "127.0.0.1"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def initiator(tmp_path, port: int, samples: list, duration: int = 2, interval: float = 1.0) -> EdgeRunner:
    edges = [edge(LOCAL, "g", "a", "b", port, interval=interval)]
    cfg = parse_config(
        json.dumps(config(tmp_path, "b", "g", edges, "http://127.0.0.1:1", test_duration=duration)), "g"
    )
    return EdgeRunner(cfg, cfg.edges[0], detect_version(IPERF3), lambda e, s: samples.extend(s))


def listen(port: int) -> subprocess.Popen:
    argv = [IPERF3, "-s", "-B", "127.0.0.1", "-p", str(port)]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def run_for(runner: EdgeRunner, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        runner.tick(time.monotonic())
        await asyncio.sleep(0.05)


def test_a_failed_fork_and_a_parser_error_do_not_end_the_edge(tmp_path, monkeypatch):
    """Fakes on purpose: EAGAIN from fork and a parser bug cannot be produced on demand with the real
    thing. The edge logs, backs off and measures again; stop() returns."""
    port, samples = free_port(), []
    server = listen(port)
    real_exec, real_parse = asyncio.create_subprocess_exec, None
    calls = {"exec": 0, "parse": 0}

    async def failing_exec(*args, **kwargs):
        calls["exec"] += 1
        if calls["exec"] == 1:
            raise BlockingIOError(11, "Resource temporarily unavailable")
        return await real_exec(*args, **kwargs)

    def failing_parse(line: str):
        calls["parse"] += 1
        if calls["parse"] == 3:
            raise ValueError("a parser bug")
        return real_parse(line)

    monkeypatch.setattr(edge_runner.asyncio, "create_subprocess_exec", failing_exec)
    monkeypatch.setattr(edge_runner, "UNEXPECTED_DELAY", 0.2)

    async def scenario() -> EdgeRunner:
        nonlocal real_parse
        runner = initiator(tmp_path, port, samples)
        real_parse, runner.parse = runner.parse, failing_parse
        runner.start()
        await run_for(runner, 4.5)
        assert not runner.task.done()
        await runner.stop()
        return runner

    try:
        runner = asyncio.run(scenario())
    finally:
        server.kill()
        server.wait()
    assert calls["exec"] >= 2 and calls["parse"] > 3
    assert runner.restarts == 1
    assert [s.up for s in samples] and all(s.up == 1 for s in samples)


def test_stop_never_raises(tmp_path):
    async def scenario() -> None:
        runner = initiator(tmp_path, free_port(), [])

        async def broken() -> None:
            raise RuntimeError("an edge task that died")

        runner.task = asyncio.ensure_future(broken())
        await asyncio.sleep(0)
        await runner.stop()

    asyncio.run(scenario())


def test_a_busy_listener_at_a_boundary_is_no_restart_and_no_outage(tmp_path, monkeypatch):
    """Another client holds the listener for a while: the first quick retries are not restarts, and a busy
    listener is the probe's business, not a network outage."""
    port, samples, errors = free_port(), [], []
    real_delay = edge_runner.restart_delay

    def recording_delay(returncode, message, measured, failures):
        errors.append(message)
        return real_delay(returncode, message, measured, failures)

    monkeypatch.setattr(edge_runner, "restart_delay", recording_delay)
    server = listen(port)
    time.sleep(0.2)
    other = subprocess.Popen(
        [IPERF3, "-c", "127.0.0.1", "-p", str(port), "-u", "-t", "3", "-b", "10k"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    async def scenario() -> None:
        await asyncio.sleep(0.3)
        runner = initiator(tmp_path, port, samples)
        runner.start()
        await run_for(runner, 6)
        await runner.stop()
        busy = [error for error in errors if error and "busy" in error]
        assert len(busy) > edge_runner.BUSY_QUICK_TRIES
        # the quick retries of a test boundary are no restarts; a listener that stays busy is
        assert runner.restarts == len(busy) - edge_runner.BUSY_QUICK_TRIES, errors

    try:
        asyncio.run(scenario())
    finally:
        for process in (other, server):
            process.kill()
            process.wait()
    assert [s for s in samples if s.up == 0] == []
    assert any(s.up == 1 for s in samples)  # it measured once the other client was done


def test_what_is_a_network_failure():
    assert network_failure(
        "unable to connect to server - server may have stopped running or use a different port"
    )
    assert network_failure("idle timeout for receiving data")
    assert network_failure("unable to connect to server: Connection timed out")
    assert not network_failure("unable to connect to server: Connection refused")
    assert not network_failure("the server is busy running a test. try again later")
    assert not network_failure("test authorization failed")
    assert not network_failure("probe error: BlockingIOError")


def test_a_listeners_earlier_client_error_does_not_stick(tmp_path):
    """Review 8: an old "authorization failed" of another client forced a 60 s config_error later."""
    edges = [edge(LOCAL, "g", "a", "b", free_port())]
    cfg = parse_config(json.dumps(config(tmp_path, "a", "g", edges, "http://127.0.0.1:1")), "g")
    runner = EdgeRunner(cfg, cfg.edges[0], (3, 12), lambda e, s: None)
    runner._handle("iperf3: error - test authorization failed\n", 1.0)
    assert runner.last_error == "test authorization failed"
    runner._handle("Server listening on 5201 (test #2)\n", 1.1)
    assert runner.last_error is None


def receiver_line(start: float, length: float, packets: int) -> str:
    """A 3.12 receiver interval line (172-byte datagrams)."""
    span = f"{start:.2f}-{start + length:.2f}"
    return f"[  5]   {span}   sec  {packets * 172} Bytes  0.00 bits/sec  0.6 ms  0/{packets} (0%)\n"


def replay(runner: EdgeRunner, lines: list[str], silent: float, late: list[str]) -> dict:
    """Feed a receiving initiator its test's interval `lines`, one per interval as iperf3 prints them, then
    `silent` seconds of nothing (the clock ticking), then the `late` lines at once. Returns what the
    database keeps: the last sample written per slot, by seconds since the test's start."""
    samples: list = []
    runner.emit = lambda edge, written: samples.extend(written)
    start = now = runner.meter.cursor  # monotonic seconds: the test starts with the meter
    runner._handle("Connecting to host 198.18.1.11, port 15001\n", start)
    for line in lines:
        now += runner.edge.interval
        runner.tick(now)
        runner._handle(line, now)
    end = now + silent
    while now < end:
        now += 0.05
        runner.tick(now)
    for line in late:
        runner._handle(line + "\n", now)
    to_wall = time.time() - time.monotonic()
    return {round(sample.time - to_wall - start, 1): sample for sample in samples}


def test_a_summary_whose_results_exchange_failed_does_not_take_a_blackhole_back(tmp_path):
    """WAN lab, iperf3 3.12 -R at 0.2 s intervals: a blackhole from 9.2 s held the results exchange up
    until the listener was killed as stale; the client then printed its summary with a sender line of 0
    datagrams (the exchange never brought the sender's count) before its error. Read as "0 sent, 450
    received", it settled the blackhole's outage points as a hold: none stood. The lines are as captured."""
    runner = initiator(tmp_path, free_port(), [], duration=10, interval=0.2)
    lines = [receiver_line(0.2 * k, 0.2, 10 if k < 46 else 0) for k in range(49)]  # nothing from 9.2 s
    stored = replay(
        runner,
        lines,
        7.0,  # the results exchange waits for the path
        [
            "[  5]   9.80-10.00  sec  0.00 Bytes  0.00 bits/sec  14.342 ms  0/0 (0%)",
            "- - - - - - - - - - - - - - - - - - - - - - - - -",
            "[ ID] Interval           Transfer     Bitrate         Jitter    Lost/Total Datagrams",
            "[  5]   0.00-10.00  sec  0.00 Bytes  0.00 bits/sec  0.000 ms  0/0 (0%)  sender",
            "[  5]   0.00-10.00  sec  75.6 KBytes  61.9 Kbits/sec  14.342 ms  0/450 (0%)  receiver",
            "iperf3: error - control socket has closed unexpectedly",
        ],
    )
    assert [t for t, sample in stored.items() if sample.up == 0 and t <= 9.2] == [], stored
    assert [t for t, sample in stored.items() if sample.up == 1 and t > 9.2] == [], stored
    assert len([t for t, sample in stored.items() if sample.up == 0]) >= 7 / 0.2, stored


def test_a_last_line_printed_after_a_blocked_exchange_does_not_take_a_blackhole_back(tmp_path):
    """WAN lab, iperf3 3.12 -R at 1 s intervals: a blackhole from 8 s stalled the client's output; after
    the path healed, the exchange went through and 3.12 printed its last line, "9.00-10.00 0/1", then the
    summary. That line (one datagram, none lost) was read as traffic back after a hold, and took every
    outage point of the blackhole back before the summary could settle them. The lines are as captured."""
    runner = initiator(tmp_path, free_port(), [], duration=10, interval=1.0)
    stored = replay(
        runner,
        [receiver_line(k, 1.0, 50) for k in range(8)],  # 0-8 s measured, then nothing until the exchange
        9.3,
        [
            "[  5]   9.00-10.00  sec   172 Bytes  1.37 Kbits/sec  8.431 ms  0/1 (0%)",
            "- - - - - - - - - - - - - - - - - - - - - - - - -",
            "[ ID] Interval           Transfer     Bitrate         Jitter    Lost/Total Datagrams",
            "[  5]   0.00-18.12  sec   152 KBytes  68.8 Kbits/sec  0.000 ms  0/906 (0%)  sender",
            "[  5]   0.00-10.00  sec  75.9 KBytes  62.2 Kbits/sec  8.431 ms  0/452 (0%)  receiver",
            "",
            "iperf Done.",
        ],
    )
    assert [t for t, sample in stored.items() if sample.up == 1 and t > 8] == [], stored
    assert [t for t, sample in stored.items() if sample.up == 0] == [float(t) for t in range(9, 18)], stored
    # the summary's loss, and the outage's rest after the last whole slot, until the summary (under a slot)
    assert 906 - 452 <= sum(sample.lost for sample in stored.values()) < 906 - 452 + 50


def test_unreported_loss_is_known_only_from_a_real_sender_count():
    assert edge_runner.unreported_loss(703, 346) == 357
    assert edge_runner.unreported_loss(450, 450) == 0
    assert edge_runner.unreported_loss(0, 450) is None  # the exchange failed: no sender count
    assert edge_runner.unreported_loss(None, 450) is None and edge_runner.unreported_loss(450, None) is None


# --- the listener watchdog: real 3.12 output lines --------------------------------------------------


def test_a_listener_test_running_past_its_duration_is_overdue():
    watch = ListenerWatch(test_duration=10, interval=1.0, connect_timeout=3.0)
    watch.on_line("Server listening on 5201 (test #1)", 0.0)
    watch.on_line("Accepted connection from 127.0.0.1, port 40000", 0.5)
    watch.on_line("[  5] local 127.0.0.1 port 5201 connected to 127.0.0.1 port 51234", 0.5)
    watch.on_line("[  5]   0.00-1.00   sec  8.40 KBytes  68.8 Kbits/sec  50  ", 1.6)
    assert watch.overdue(0.6 + 10 + 3 + 3 + 2 - 0.1) is None  # -t, connect timeout, slack, 2 intervals
    assert "stale" in watch.overdue(0.6 + 18.2)
    watch.on_line("Server listening on 5201 (test #2)", 19.0)
    assert watch.overdue(100.0) is None  # idle: nothing to watch


def test_a_listener_wedged_by_an_idle_connection_is_overdue():
    watch = ListenerWatch(test_duration=300, interval=1.0, connect_timeout=3.0)
    watch.on_line("-----------------------------------------------------------", 0.0)
    watch.on_line("Accepted connection from 127.0.0.1, port 40000", 1.0)
    assert watch.overdue(1.0 + 3 + 35 + 1 - 0.1) is None
    assert "wedged" in watch.overdue(1.0 + 40)


def test_the_watchdog_reads_3_18_json_stream_lines():
    """--json-stream (3.17+, iperf3.md): one unformatted JSON object per event; "end" means idle again."""
    watch = ListenerWatch(test_duration=10, interval=1.0, connect_timeout=3.0)
    watch.on_line('{"event":"start","data":{"connected":[{"socket":5}],"version":"iperf 3.18"}}', 0.5)
    interval = '{"event":"interval","data":{"streams":[{"socket":5,"start":0,"end":1.000107,"seconds":1}]}}'
    watch.on_line(interval, 1.5)
    assert watch.overdue(0.5 + 10 + 3 + 3 + 2 - 0.1) is None
    assert "stale" in watch.overdue(0.5 + 18.2)
    watch.on_line('{"event":"end","data":{"streams":[]}}', 19.0)
    assert watch.overdue(100.0) is None
    watch.on_line('{"event":"start","data":{}}', 100.0)  # a client that never starts its test
    assert "wedged" in watch.overdue(100.0 + 3 + 35 + 1 + 0.1)
