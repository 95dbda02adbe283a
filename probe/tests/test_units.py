"""Fast tests of the pure parts: config, iperf3 command lines, output parsers, loss accounting, spool."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
from labkit import config, edge
from syntraf_probe.config import ConfigError, parse_config
from syntraf_probe.edge_runner import restart_delay
from syntraf_probe.iperf3 import build_command, pacing_timer_us, parse_version
from syntraf_probe.lineproto import sample_line
from syntraf_probe.meter import Sample
from syntraf_probe.parse import (
    Connected,
    Failed,
    Interval,
    OutOfOrder,
    RunEnded,
    RunStarted,
    SenderTotal,
    parse_json_line,
    parse_text_line,
)
from syntraf_probe.spool import Spool

ADDRESSES = {"a": "198.51.100.11", "b": "198.51.100.12"}


def make_config(tmp_path, host="b", auth=None, mode="reverse", **edge_over):
    edges = [edge(ADDRESSES, "g", "a", "b", 15001, mode, **edge_over)]
    cfg = config(tmp_path, host, "g", edges, "http://127.0.0.1:1", ADDRESSES[host])
    cfg["auth"] = auth
    return parse_config(json.dumps(cfg), "g.json")


# --- config ---------------------------------------------------------------------------------------


def run_cli(tmp_path, text):
    path = tmp_path / "g.json"
    path.write_text(text)
    result = subprocess.run(
        [sys.executable, "-m", "syntraf_probe", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    return result.returncode, result.stderr


def test_malformed_config_exits_2_with_clear_message(tmp_path):
    code, stderr = run_cli(tmp_path, '{"schema": 1, "host": ')
    assert code == 2
    assert "g.json: malformed JSON" in stderr


def test_unknown_schema_exits_2(tmp_path):
    cfg = config(tmp_path, "b", "g", [], "http://127.0.0.1:1")
    cfg["schema"] = 1  # the edge table form of a rotating group changed in schema 2
    code, stderr = run_cli(tmp_path, json.dumps(cfg))
    assert code == 2
    assert "key schema: unknown schema version 1; this probe understands schema 2" in stderr


def test_missing_and_mistyped_keys_are_named(tmp_path):
    cfg = config(tmp_path, "b", "g", [edge(ADDRESSES, "g", "a", "b", 15001)], "http://127.0.0.1:1")
    del cfg["edges"][0]["port"]
    with pytest.raises(ConfigError, match=r"key edges\[0\]\.port: missing"):
        parse_config(json.dumps(cfg), "g.json")
    cfg["edges"][0]["port"] = "15001"
    with pytest.raises(ConfigError, match=r"key edges\[0\]\.port: expected int"):
        parse_config(json.dumps(cfg), "g.json")
    cfg["edges"][0]["port"] = 15001
    cfg["host"] = "z"
    with pytest.raises(ConfigError, match=r"key edges\[0\]: host z is neither src nor dst of edge a->b"):
        parse_config(json.dumps(cfg), "g.json")


# --- iperf3 command lines ---------------------------------------------------------------------------


def test_reverse_initiator_on_312(tmp_path):
    cfg = make_config(tmp_path, host="b")
    argv = build_command(cfg, cfg.edges[0], (3, 12), {}).argv
    text = " ".join(argv)
    assert "-c 198.51.100.11 -p 15001 -u -b 68800 -l 172 -t 300 -i 1 --dscp 46" in text
    assert "--pacing-timer 20000" in text and "--connect-timeout 3000" in text
    assert "-R --rcv-timeout 5000" in text and "--udp-counters-64bit" in text
    assert argv[-1] == "--forceflush" and "--json-stream" not in argv
    assert "--snd-timeout" not in argv  # only the sending side needs it
    assert argv[:3] == [shutil.which("stdbuf"), "-oL", "/usr/bin/iperf3"]  # its meter reads connect lines
    assert build_command(cfg, cfg.edges[0], (3, 18), {}).argv[0] == "/usr/bin/iperf3"  # json flushes


def test_a_day_long_test_at_tenth_second_intervals_is_cut_to_bound_iperf3_memory(tmp_path):
    """iperf3 3.12 keeps ~400 B per interval: 86400 s at -i 0.1 would be 324 MB per process."""
    edges = [edge(ADDRESSES, "g", "a", "b", 15001, interval=0.1)]
    cfg = config(tmp_path, "b", "g", edges, "http://127.0.0.1:1", ADDRESSES["b"], test_duration=86400)
    parsed = parse_config(json.dumps(cfg), "g.json")
    argv = build_command(parsed, parsed.edges[0], (3, 12), {}).argv
    assert argv[argv.index("-t") + 1] == "3600"


def test_listener_binds_own_address_on_312_only(tmp_path):
    cfg = make_config(tmp_path, host="a")
    old = build_command(cfg, cfg.edges[0], (3, 12), {}).argv
    new = build_command(cfg, cfg.edges[0], (3, 18), {}).argv
    assert old[:5] == ["/usr/bin/iperf3", "-s", "-p", "15001", "-i"]  # it sends: no meter, no stdbuf
    assert "-B" in old and old[old.index("-B") + 1] == "198.51.100.11"
    assert "-B" not in new
    assert new[-1] == "--json-stream" and "--forceflush" not in new
    assert "--rcv-timeout" in old


def test_forward_initiator_gets_snd_timeout_and_rcv_timeout_floor(tmp_path):
    cfg = make_config(tmp_path, host="a", mode="forward", listener="b", initiator="a", interval=0.2)
    argv = build_command(cfg, cfg.edges[0], (3, 12), {}).argv
    assert "-R" not in argv and "--snd-timeout" in argv
    listener = make_config(tmp_path, host="b", mode="forward", listener="b", initiator="a", interval=0.2)
    server = build_command(listener, listener.edges[0], (3, 12), {}).argv
    assert server[server.index("--rcv-timeout") + 1] == "5000"


def test_auth_password_only_in_env_and_pkcs1_where_accepted(tmp_path):
    peers = tmp_path / "peers"
    peers.mkdir()
    (peers / "a.password").write_text("s3cr3t\n")
    auth = {
        "time_skew_threshold": 10,
        "private_key_path": "/k/listener.pem",
        "authorized_users_path": "/k/users.csv",
        "username": "b",
        "public_keys_dir": str(peers),
    }
    cfg = make_config(tmp_path, host="b", auth=auth, pkcs1_padding=True)
    command = build_command(cfg, cfg.edges[0], (3, 12), {"IPERF3_PASSWORD": "inherited", "PATH": "/bin"})
    assert "s3cr3t" not in " ".join(command.argv)
    assert command.env["IPERF3_PASSWORD"] == "s3cr3t"
    assert f"--username b --rsa-public-key-path {peers}/a.pem" in " ".join(command.argv)
    assert "--use-pkcs1-padding" not in command.argv  # 3.12 has no such option
    assert "--use-pkcs1-padding" in build_command(cfg, cfg.edges[0], (3, 18), {}).argv
    assert "--use-pkcs1-padding" not in build_command(cfg, cfg.edges[0], (3, 20), {}).argv  # server-only
    listener = make_config(tmp_path, host="a", auth=auth, pkcs1_padding=True)
    server = build_command(listener, listener.edges[0], (3, 21), {"IPERF3_PASSWORD": "x"})
    assert "--use-pkcs1-padding" in server.argv and "IPERF3_PASSWORD" not in server.env
    assert "--authorized-users-path /k/users.csv --time-skew-threshold 10" in " ".join(server.argv)


def test_version_and_pacing():
    assert parse_version("iperf 3.12 (cJSON 1.7.15)\nLinux x 6.1") == (3, 12)
    assert parse_version("iperf 3.18+ (cJSON 1.7.15)") == (3, 18)
    with pytest.raises(ConfigError):
        parse_version("command not found")
    cfg_edge = edge(ADDRESSES, "g", "a", "b", 1)
    from syntraf_probe.config import Edge

    fast = Edge(**{**cfg_edge, "packets_per_second": 5000.0})
    assert pacing_timer_us(fast) == 1000
    slow = Edge(**{**cfg_edge, "packets_per_second": 1.0})
    assert pacing_timer_us(slow) == 20000


# --- parsers (lines from iperf3.md) ------------------------------------------------------------------

TEXT_312 = """Connecting to host 127.0.0.1, port 5201
Reverse mode, remote host 127.0.0.1 is sending
[  5] local 127.0.0.1 port 40420 connected to 127.0.0.1 port 25101
[ ID] Interval           Transfer     Bitrate         Jitter    Lost/Total Datagrams
[  5]   0.00-1.00   sec  12.2 KBytes   100 Kbits/sec  0.010 ms  0/391 (0%)
[  5]   1.00-2.00   sec  0.00 Bytes  0.00 bits/sec  0.010 ms  0/0 (0%)
[  5]   2.00-3.00   sec  2.50 KBytes  20.5 Kbits/sec  0.011 ms  1964/2148 (91%)
[  5]   3.00-4.00   sec  12.2 KBytes   100 Kbits/sec  0.010 ms  -1/391 (-0.26%)
[  5]   4.00-5.00   sec  11.0 KBytes  90.1 Kbits/sec  0.012 ms  39/391 (1e+02%)
[  5]   0.00-3.00   sec  36.6 KBytes   100 Kbits/sec  0.000 ms  0/1172 (0%)  sender
[SUM]  0.0- 4.0 sec  15 datagrams received out-of-order
[  5]   0.00-3.00   sec  36.6 KBytes   100 Kbits/sec  0.005 ms  0/1172 (0%)  receiver
[  7][RX-C]   0.00-1.00   sec  12.2 KBytes   100 Kbits/sec  0.007 ms  0/391 (0%)
[  5][TX-C]   0.00-1.00   sec  12.2 KBytes   100 Kbits/sec            391
[  5]   0.00-1.00   sec  12.2 KBytes   100 Kbits/sec  391
iperf3: error - idle timeout for receiving data
Server listening on 5201 (test #2)
iperf3: interrupt - the client has terminated
"""


def test_restart_delay_is_chosen_by_how_iperf3_ended():
    assert restart_delay(0, None, True, 0) == (0.0, "starting")  # bounded test done: back to back
    busy = "the server is busy running a test. try again later"
    # the listener still closing the previous test: retried quickly, then about once a second
    assert restart_delay(1, busy, False, 1)[0] <= 0.2
    assert restart_delay(1, busy, False, 10)[0] == pytest.approx(1.0)
    assert restart_delay(1, "test authorization failed", False, 1) == (60.0, "config_error")
    refused = "unable to connect to server: Connection refused"
    delays = [restart_delay(1, refused, False, n)[0] for n in range(1, 8)]
    assert delays == sorted(delays) and delays[0] < delays[-1] <= 5.0  # backs off, bounded


def test_text_312_lines():
    events = [parse_text_line(line) for line in TEXT_312.splitlines()]
    events = [e for e in events if e is not None]
    assert events[:2] == [Connected(), RunStarted()]
    assert parse_text_line("Accepted connection from 10.0.0.2, port 40000") == Connected()
    intervals = [e for e in events if isinstance(e, Interval)]
    assert [(i.start, i.end, i.packets, i.lost) for i in intervals] == [
        (0.0, 1.0, 391, 0),
        (1.0, 2.0, 0, 0),
        (2.0, 3.0, 2148, 1964),
        (3.0, 4.0, 391, -1),
        (4.0, 5.0, 391, 39),
        (0.0, 1.0, 391, 0),  # the [RX-C] receiver line of --bidir
    ]
    assert intervals[0].bits_per_second == 100e3 and intervals[0].jitter_ms == 0.010
    assert intervals[0].bytes == pytest.approx(12.2 * 1024)
    assert events.count(SenderTotal(1172)) == 1  # the sender summary line: what was sent in all
    assert events.count(RunEnded(received=1172)) == 1  # the receiver line ends the test
    assert events.count(RunEnded(clean=False)) == 1  # "Server listening": a test ended, summary or not
    assert [e.message for e in events if isinstance(e, Failed)] == [
        "idle timeout for receiving data",
        "the client has terminated",
    ]


def test_json_stream_events():
    interval = {
        "event": "interval",
        "data": {
            "streams": [],
            "sum": {
                "start": 1.0,
                "end": 2.0,
                "seconds": 1.0,
                "bytes": 8600,
                "bits_per_second": 68800.0,
                "jitter_ms": 0.02,
                "lost_packets": 3,
                "packets": 50,
                "lost_percent": 6.0,
                "omitted": False,
                "sender": False,
            },
        },
    }
    sender = {
        "event": "interval",
        "data": {"sum": {"start": 0, "end": 1, "bytes": 1, "packets": 50, "sender": True}},
    }
    assert (
        parse_json_line(json.dumps({"event": "start", "data": {"timestamp": {"timesecs": 1}}}))
        == RunStarted()
    )
    assert parse_json_line(json.dumps(interval)) == Interval(1.0, 2.0, 8600.0, 68800.0, 0.02, 50, 3)
    assert parse_json_line(json.dumps(sender)) is None
    error = {"event": "error", "data": "idle timeout for receiving data"}
    assert parse_json_line(json.dumps(error)) == Failed("idle timeout for receiving data")
    assert parse_json_line(json.dumps({"event": "end", "data": {}})) == RunEnded(clean=False)
    end = {"event": "end", "data": {"streams": [{"udp": {"out_of_order": 4, "lost_packets": 0}}]}}
    assert parse_json_line(json.dumps(end)) == RunEnded(out_of_order=4)


def test_out_of_order_summary_line_of_312():
    """3.12 decrements its loss for every out-of-order or duplicate datagram: the count is kept."""
    line = "[SUM]  0.0- 4.0 sec  15 datagrams received out-of-order"
    assert parse_text_line(line) == OutOfOrder(15)
    assert parse_json_line("iperf3: error - unable to connect to server: Connection refused") == Failed(
        "unable to connect to server: Connection refused"
    )


# --- spool --------------------------------------------------------------------------------------------


def test_spool_is_bounded_drops_oldest_and_replays_in_order(tmp_path):
    spool = Spool(str(tmp_path / "s"), max_bytes=8192)
    for batch in range(100):
        spool.append([f"m v={batch}i {batch}"] * 10)  # ~130 bytes per batch
    assert spool.bytes <= 8192
    assert spool.dropped_points > 0
    assert spool.points + spool.dropped_points == 1000
    replayed = []
    while spool:
        sequence, lines = spool.oldest()
        replayed += lines
        spool.remove(sequence)
    values = [int(line.split("=")[1].split("i")[0]) for line in replayed]
    assert values == sorted(values) and values[-1] == 99
    again = Spool(str(tmp_path / "s"), max_bytes=8192)
    assert not again and again.points == 0


def test_spool_survives_a_restart_and_ignores_a_torn_line(tmp_path):
    spool = Spool(str(tmp_path / "s"), max_bytes=1 << 20)
    spool.append(["a v=1i 1", "a v=2i 2"])
    path = next((tmp_path / "s").glob("*.lp"))
    with open(path, "a") as handle:
        handle.write("a v=3i")  # a crash in the middle of a write
    reopened = Spool(str(tmp_path / "s"), max_bytes=1 << 20)
    assert reopened.oldest()[1] == ["a v=1i 1", "a v=2i 2"]
    reopened.append(["a v=4i 4"])
    assert reopened.points == 3


def test_an_unusable_spool_is_refused_at_start_with_exit_2(tmp_path):
    (tmp_path / "file").write_text("")
    cfg = config(tmp_path, "b", "g", [], "http://127.0.0.1:1")
    cfg["spool"]["directory"] = str(tmp_path / "file" / "spool")  # a directory under a file (PR4)
    code, stderr = run_cli(tmp_path, json.dumps(cfg))
    assert code == 2
    assert f"spool.directory {tmp_path / 'file' / 'spool'}" in stderr and "unusable" in stderr
    assert "Traceback" not in stderr


def test_a_full_disk_while_spooling_is_counted_and_survived(tmp_path):
    """/dev/full answers every write with ENOSPC, as a full disk does."""
    spool = Spool(str(tmp_path / "s"), max_bytes=1 << 20)
    spool.append(["a v=1i 1"])
    segment = next((tmp_path / "s").glob("*.lp"))
    segment.unlink()
    segment.symlink_to("/dev/full")
    spool.append(["a v=2i 2", "a v=3i 3"])
    assert spool.errors == 1 and spool.dropped_points == 2 and spool.points == 1


def test_eviction_never_takes_the_segment_being_replayed(tmp_path):
    spool = Spool(str(tmp_path / "s"), max_bytes=8192)
    spool.append([f"m v={n}i {n}" for n in range(100)])
    sequence, lines = spool.oldest()  # a replay holds it while the database answers slowly
    for batch in range(100, 200):
        spool.append([f"m v={batch}i {batch}"] * 10)
    assert sequence in spool.segments
    spool.replace(sequence, lines[40:])  # 40 delivered
    replayed = lines[:40]
    while spool:
        sequence, lines = spool.oldest()
        replayed += lines
        spool.remove(sequence)
    values = [int(line.split("=")[1].split("i")[0]) for line in replayed]
    assert values == sorted(values) and values[-1] == 199
    assert len(replayed) + spool.dropped_points == 1100  # nothing counted as dropped was delivered


def test_a_tests_out_of_order_count_is_stored_with_its_last_point(tmp_path):
    """The WAN lab found Σout_of_order 0 in the database while the meter had counted 24: never written."""
    cfg = make_config(tmp_path, host="b")
    last = Sample(1000.0, 68800.0, 0.1, 50, 0, 0.0, 1, out_of_order=3)
    assert ",out_of_order=3i " in sample_line(cfg.edges[0], last)
    assert "out_of_order" not in sample_line(cfg.edges[0], Sample(1001.0, 68800.0, 0.1, 50, 0, 0.0, 1))
