"""The group's echo as the supervisor runs it: two probes' Voice on loopback addresses, real sockets and
the files the iperf3 authentication already uses."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from dataclasses import replace

import pytest
from labkit import config, edge
from syntraf_probe.app import Probe
from syntraf_probe.config import ConfigError, parse_config
from syntraf_probe.echo import users_hash
from syntraf_probe.emodel import CODECS, mos, r_factor
from syntraf_probe.meter import Sample
from syntraf_probe.voice import MIN_REQUESTS, TICK_MAX_NS, Voice, echo_interval, tick_ns

ADDRESSES = {"a": "127.0.0.2", "b": "127.0.0.3"}
PORT = 25301  # the group's echo port (each host binds its own address)


def authenticate(data: dict, tmp_path, host: str, keys, users) -> None:
    """The iperf3 authentication the echo's keys come from: the peers' passwords in the directory `keys`,
    the users file `users` (absent for a host that listens for no edge)."""
    data["auth"] = {
        "time_skew_threshold": 10,
        "private_key_path": str(tmp_path / "unused.pem"),
        "authorized_users_path": str(users),
        "username": host,
        "public_keys_dir": str(keys),
    }


def host_config(tmp_path, host: str, echo: dict):
    edges = [edge(ADDRESSES, "voip", "a", "b", 15001)]  # reverse: b initiates, a listens and sends
    data = config(tmp_path, host, "voip", edges, "http://127.0.0.1:1", ADDRESSES[host])
    keys = tmp_path / f"keys-{host}"
    keys.mkdir()
    (keys / "a.password").write_text("pair-password\n")
    users = tmp_path / f"users-{host}"
    if host == "a":  # b listens for no edge: like a host behind NAT, it has no users file
        users.write_text(f"# users\nb,{users_hash('b', 'pair-password')}\n")
    authenticate(data, tmp_path, host, keys, users)
    data["echo"] = echo
    return parse_config(json.dumps(data), f"{host}.json")


def fields_of(text: str) -> dict:
    measurement_tags, fields, _ = text.split(" ")
    assert measurement_tags.startswith("syntraf_voice,")
    return {k: float(v.rstrip("i")) for k, v in (item.split("=") for item in fields.split(","))}


def test_the_receiver_writes_rtt_dscp_and_mos_of_its_edge(tmp_path):
    echo = {"port": PORT, "rate": 10, "codec": "g711"}
    heard = Sample(0.0, 68800.0, 2.0, 50, 1, 2.0, 1)  # the edge's last iperf3 interval: 2 % loss
    lines: list[str] = []
    a = Voice(host_config(tmp_path, "a", echo), lambda more: None, lambda e: None)
    b = Voice(host_config(tmp_path, "b", echo), lines.extend, lambda e: heard)

    async def run() -> None:
        tasks = [asyncio.ensure_future(voice.run()) for voice in (a, b)]
        await asyncio.sleep(3.4)  # two 1 s windows, each written a second after it ends
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(run())
    assert len(lines) >= 1 and all("src=a" in item and "dst=b" in item for item in lines)
    fields = fields_of(lines[0])
    assert fields["echo_sent"] == pytest.approx(10, abs=1) and fields["echo_lost"] == 0
    assert fields["dscp_seen"] == 46 and fields["remarked_pct"] == 0
    # loopback's floor: the min. A round trip's send time is taken in Python, so a stall of the process
    # before its sendto (seen: 100 ms in CI, a loaded machine) lengthens that one (docs/metrics.md)
    assert 0 < fields["rtt_min_ms"] < 50
    assert fields["rtt_min_ms"] <= fields["rtt_mean_ms"] <= fields["rtt_max_ms"]
    expected = mos(r_factor(fields["rtt_mean_ms"], 2.0, 2.0, CODECS["g711"]))
    assert fields["mos"] == pytest.approx(expected, abs=0.002)
    assert (fields["mos_jitter_ms"], fields["mos_loss_pct"]) == (2.0, 2.0)  # the inputs it was scored with
    assert a.socket.reflector.dropped == 0


def mutual_config(tmp_path, host: str, echo: dict):
    """A pair of the usual full mesh: an edge each way, each initiated by its receiver (reverse mode), each
    listener with its own iperf3 password."""
    peer = "b" if host == "a" else "a"
    edges = [edge(ADDRESSES, "voip", "a", "b", 15001), edge(ADDRESSES, "voip", "b", "a", 15002)]
    data = config(tmp_path, host, "voip", edges, "http://127.0.0.1:1", ADDRESSES[host])
    keys = tmp_path / f"mutual-keys-{host}"
    keys.mkdir()
    (keys / f"{peer}.password").write_text(f"{peer}-password\n")
    users = tmp_path / f"mutual-users-{host}"
    users.write_text(f"{peer},{users_hash(peer, f'{host}-password')}\n")
    authenticate(data, tmp_path, host, keys, users)
    data["echo"] = echo
    return parse_config(json.dumps(data), f"{host}.json")


def test_a_pair_with_an_edge_each_way_makes_one_exchange_and_its_requester_writes_both_edges(tmp_path):
    """Both hosts initiate an edge with the other: only the lower uid (a) requests, b answers; a writes
    a point for each edge. b->a (a receives): the replies' DSCP as a read it, and a's iperf3 interval;
    a->b (b receives): the requests' DSCP as b read it, and b's interval, copied into b's replies. b marks
    its replies CS0 (a remark on the way back, made by the real socket): only b->a shows it."""
    echo = {"port": PORT + 3, "rate": 10, "codec": "g711"}
    heard_by = {"a": Sample(0.0, 68800.0, 2.0, 50, 1, 2.0, 1), "b": Sample(0.0, 68800.0, 5.0, 50, 5, 10.0, 1)}
    lines: list[str] = []
    a = Voice(mutual_config(tmp_path, "a", echo), lines.extend, lambda e: heard_by[e.dst])
    b = Voice(mutual_config(tmp_path, "b", echo), lines.extend, lambda e: heard_by[e.dst])
    b.socket.sock.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, 0)
    assert (len(a.socket.requesters), len(b.socket.requesters)) == (1, 0)

    async def run() -> None:
        tasks = [asyncio.ensure_future(voice.run()) for voice in (a, b)]
        await asyncio.sleep(2.4)  # a 1 s window, written a second after it ends
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(run())
    points = {}
    for item in lines:
        tags = dict(tag.split("=") for tag in item.split(" ")[0].split(",")[1:])
        points.setdefault((tags["src"], tags["dst"]), fields_of(item))
    assert set(points) == {("a", "b"), ("b", "a")}
    for (_, dst), fields in points.items():
        assert fields["echo_sent"] == pytest.approx(10, abs=1) and fields["echo_lost"] == 0
        remarked = dst == "a"  # b's replies travel b->a
        assert (fields["dscp_seen"], fields["remarked_pct"]) == ((0, 100) if remarked else (46, 0))
        heard = heard_by[dst]
        assert (fields["mos_jitter_ms"], fields["mos_loss_pct"]) == (heard.jitter_ms, heard.loss_pct)
        expected = mos(r_factor(fields["rtt_mean_ms"], heard.jitter_ms, heard.loss_pct, CODECS["g711"]))
        assert fields["mos"] == pytest.approx(expected, abs=0.002)
    assert points[("a", "b")]["rtt_mean_ms"] == points[("b", "a")]["rtt_mean_ms"]  # one exchange
    assert a.socket.reflector.dropped == b.socket.reflector.dropped == 0


def test_a_point_holds_at_least_ten_round_trips_whatever_the_rate(tmp_path):
    """At 2 requests/s and 1 s intervals a point summarised two round trips (its p95 was their max, its
    remark share 0, 50 or 100 %), and the points cost more CPU than its packets (bench/echo_load.py)."""
    assert echo_interval(1.0, 10) == 1.0  # 10 round trips in the group's interval: the group's interval
    assert echo_interval(1.0, 2) == 5.0 and echo_interval(0.2, 1) == 10.0
    assert echo_interval(10.0, 2) == 10.0  # the default interval holds 20
    cfg = host_config(tmp_path, "b", {"port": PORT, "rate": 2, "codec": "g711"})
    voice = Voice(cfg, lambda more: None, lambda e: None)
    voice.socket.close()
    assert voice.interval * cfg.echo.rate == MIN_REQUESTS


def test_the_socket_is_read_rarely_but_before_its_buffer_fills(tmp_path):
    """Ten reads a second cost the supervisor more than the datagrams of 126 peers at 1/s (bench)."""
    assert tick_ns(1, 126) == TICK_MAX_NS == 250_000_000  # 32 datagrams a read
    assert tick_ns(10, 126) == 50_793_650  # 64 datagrams a read, not 315 (more than the buffer holds)
    cfg, _ = rotating_config(tmp_path)  # host a has 3 peers, an edge each way with each: 3 exchanges
    voice = Voice(replace(cfg, echo=replace(cfg.echo, rate=50)), print, print)
    voice.socket.close()
    assert voice.tick_ns == tick_ns(50, 3) != tick_ns(50, 6)  # 150 datagrams a second, not 300


def test_an_echo_without_authentication_is_refused(tmp_path):
    cfg = host_config(tmp_path, "a", {"port": PORT, "rate": 10, "codec": "g711"})
    with pytest.raises(ConfigError, match="needs auth"):
        Voice(replace(cfg, auth=None), lambda more: None, lambda e: None)


def test_the_probe_sends_the_echo_points_with_its_flushes(tmp_path):
    """WAN lab: no syntraf_voice point reached the database: the echo extended the list of pending lines
    that the probe's first flush had already replaced."""
    echo = {"port": PORT + 1, "rate": 10, "codec": "g711"}
    a = Voice(host_config(tmp_path, "a", echo), lambda more: None, lambda e: None)
    probe = Probe(host_config(tmp_path, "b", echo), (3, 12), {})
    flushed: list[str] = []

    async def run() -> None:
        reflector = asyncio.ensure_future(a.run())
        probe._start_voice()
        for _ in range(7):
            await asyncio.sleep(0.5)
            flushed.extend(probe.pending)
            probe.flush()
        await probe._stop_voice()
        reflector.cancel()
        await asyncio.gather(reflector, return_exceptions=True)

    asyncio.run(run())
    assert any(item.startswith("syntraf_voice,") for item in flushed)


def rotating_config(tmp_path, origin: int = 0):
    """Host a of a rotating group a, b, c, d with one peer per epoch (100 s, from Unix time `origin`), an
    edge each way with each peer (reverse mode): a, the lowest uid, requests from them all, for both edges.
    Epoch 0: a sends to b and receives from d; epoch 1: c both ways; epoch 2: to d, from b."""
    addresses = {"a": "127.0.0.2", "b": "127.0.0.3", "c": "127.0.0.4", "d": "127.0.0.5"}
    peers = ("b", "c", "d")
    edges = [edge(addresses, "voip", p, "a", 15000 + i) for i, p in enumerate(peers)]
    edges += [edge(addresses, "voip", "a", p, 15100 + i) for i, p in enumerate(peers)]
    data = config(tmp_path, "a", "voip", edges, "http://127.0.0.1:1", addresses["a"])
    keys = tmp_path / "keys"
    keys.mkdir()
    for p in peers:
        (keys / f"{p}.password").write_text(f"{p}-password\n")
    users = tmp_path / "users"
    users.write_text("".join(f"{p},{users_hash(p, 'a-password')}\n" for p in peers))
    authenticate(data, tmp_path, "a", keys, users)
    data["echo"] = {"port": PORT + 2, "rate": 10, "codec": "g711"}
    data["schedule"] = {"epoch_seconds": 100, "origin": origin, "peers": 1, "members": ["a", "b", "c", "d"]}
    return parse_config(json.dumps(data), "a.json"), addresses


def test_a_rotating_group_echoes_the_current_epochs_peers_and_answers_them_with_a_handover(tmp_path):
    origin = int(time.time()) - 50  # now: the middle of epoch 0
    cfg, addresses = rotating_config(tmp_path, origin)
    lines: list[str] = []
    voice = Voice(cfg, lines.extend, lambda e: None)
    try:

        def requested() -> set[str]:
            return {host for host, address in addresses.items() if (address, PORT + 2) in voice.sending}

        def answered() -> set[str]:
            return {user.rstrip(b"\0").decode() for user in voice.socket.reflector.answering}

        # a requests from each peer with an edge in its epoch
        voice.follow_schedule(origin + 50.0)  # epoch 0, more than the skew threshold (10 s) from a boundary
        assert (requested(), answered()) == ({"b", "d"}, {"b", "d"})
        voice.follow_schedule(origin + 95.0)  # epoch 1 begins within 10 s by some peer's clock: c answered
        assert (requested(), answered()) == ({"b", "d"}, {"b", "c", "d"})
        voice.follow_schedule(origin + 105.0)  # epoch 1: c requested; epoch 0's peers still answered
        assert (requested(), answered()) == ({"c"}, {"b", "c", "d"})
        voice.follow_schedule(origin + 150.0)
        assert (requested(), answered()) == ({"c"}, {"c"})
        voice.follow_schedule(time.time())  # epoch 0 again, now
        start = time.monotonic_ns()
        voice.socket.send_requests(voice.sending)
        written = voice.lines(start, time.monotonic_ns())
        tags = [dict(tag.split("=") for tag in item.split(" ")[0].split(",")[1:]) for item in written]
        # the edges of epoch 0 only: a->b and d->a, not b->a and a->d of the same peers (epoch 2's)
        assert [(tag["src"], tag["dst"]) for tag in tags] == [("a", "b"), ("d", "a")]
    finally:
        voice.socket.close()
