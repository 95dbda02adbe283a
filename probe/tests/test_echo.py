"""The echo: its packets, the reflector's refusals, the requester's statistics, and real sockets on
loopback (the TOS byte read with IP_RECVTOS)."""

from __future__ import annotations

import os
import socket
import time

import pytest
from syntraf_probe.echo import (
    REPLY,
    REQUEST,
    SIZE,
    EchoSocket,
    Message,
    Reflector,
    Requester,
    echo_key,
    pack,
    unpack,
    users_hash,
)

KEY = echo_key(users_hash("lab2", "pair-password"))
OTHER = echo_key(users_hash("lab2", "another-password"))
EF = 46
MS = 1_000_000


def request(sequence: int, key: bytes = KEY, user: str = "lab2") -> bytes:
    return pack(Message(REQUEST, user, sequence, 123, 0), key)


def test_a_packet_is_accepted_only_whole_and_under_its_users_key():
    data = request(7)
    assert len(data) == SIZE
    assert unpack(data, {"lab2": KEY}.get) == Message(REQUEST, "lab2", 7, 123, 0)
    assert unpack(data, {"lab2": OTHER}.get) is None  # another pair's key
    assert unpack(data, {"lab3": KEY}.get) is None  # a user nobody configured
    assert unpack(data[:-1], {"lab2": KEY}.get) is None and unpack(data + b"x", {"lab2": KEY}.get) is None
    flipped = bytes([data[0] ^ 1]) + data[1:]
    assert unpack(flipped, {"lab2": KEY}.get) is None
    assert echo_key(users_hash("lab2", "pair-password")) != users_hash("lab2", "pair-password")


def test_the_reflector_answers_each_valid_request_once_and_never_more_than_it_got():
    reflector = Reflector({"lab2": KEY}, rate=20)
    reply = reflector.answer(request(1), tos=EF << 2, now=0.0)
    assert reply is not None and len(reply) == len(request(1))
    assert unpack(reply, {"lab2": KEY}.get) == Message(REPLY, "lab2", 1, 123, EF << 2)
    assert reflector.answer(request(1), EF << 2, 0.01) is None  # a replay
    assert reflector.answer(request(0), EF << 2, 0.02) is None  # older than the last answered
    assert reflector.answer(reply, EF << 2, 0.03) is None  # a reply is never answered (no ping-pong)
    assert reflector.answer(request(2, OTHER), 0, 0.04) is None  # foreign: another key
    assert reflector.answer(os.urandom(SIZE), 0, 0.05) is None  # junk
    assert reflector.answer(b"", 0, 0.06) is None
    assert reflector.dropped == 6


def test_the_reflector_is_rate_limited_per_user():
    reflector = Reflector({"lab2": KEY}, rate=20)
    answered = sum(reflector.answer(request(n), 0, n / 1000) is not None for n in range(1, 1001))  # 1000/s
    assert 20 <= answered <= 41  # the burst (20) and one second at 20/s, not 1000


def test_the_requester_measures_round_trips_loss_and_dscp_both_ways():
    requester = Requester("lab2", KEY, EF, first_sequence=1000, timeout_ns=1000 * MS)
    reflector = Reflector({"lab2": KEY}, rate=100)
    for k in range(10):
        sent = k * 100 * MS
        data = requester.request(sent)
        if k == 3:
            continue  # lost on the way
        there = (0 if k == 5 else EF) << 2  # remarked to CS0 on the way there, once
        reply = reflector.answer(data, there, sent / 1e9)
        assert requester.on_reply(reply, EF << 2, sent + (80 + k) * MS)
        assert not requester.on_reply(reply, EF << 2, sent + (81 + k) * MS)  # a duplicate
    stats = requester.stats(0, 1000 * MS)
    assert (stats.sent, stats.lost) == (10, 1)
    assert stats.rtt_ms == tuple(80.0 + k for k in range(10) if k != 3)
    assert stats.rtt_p95_ms == 89.0 and stats.rtt_variation_ms == pytest.approx(9 / 8)
    assert (stats.dscp_there, stats.dscp_here) == (EF, EF)
    assert stats.remarked_there_pct == pytest.approx(100 / 9) and stats.remarked_here_pct == 0.0
    assert requester.stats(0, 1000 * MS).sent == 0  # accounted once


def test_a_late_or_forged_reply_counts_as_lost():
    requester = Requester("lab2", KEY, EF, first_sequence=0, timeout_ns=500 * MS)
    data = requester.request(0)
    reply = Reflector({"lab2": KEY}, rate=10).answer(data, EF << 2, 0.0)
    assert not requester.on_reply(pack(Message(REPLY, "lab2", 1, 0, 0), OTHER), 0, MS)
    assert not requester.on_reply(reply, EF << 2, 600 * MS)
    assert requester.stats(0, MS).lost == 1


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def drain(*sockets: EchoSocket, seconds: float = 0.3) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for echo in sockets:
            echo.readable(time.monotonic_ns())
        time.sleep(0.005)


def test_two_echo_sockets_on_loopback_see_the_marked_dscp_and_refuse_strangers():
    a_port, b_port = free_udp_port(), free_udp_port()
    a = EchoSocket("127.0.0.1", a_port, EF, Reflector({}, rate=10))
    b = EchoSocket("127.0.0.1", b_port, EF, Reflector({"lab2": KEY}, rate=10))
    stranger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    stranger.settimeout(0.3)
    try:
        requester = Requester("lab2", KEY, EF, first_sequence=time.time_ns(), timeout_ns=1000 * MS)
        a.requesters[("127.0.0.1", b_port)] = requester
        start = time.monotonic_ns()
        for _ in range(5):
            a.send_requests(time.monotonic_ns())
            drain(a, b, seconds=0.02)
        drain(a, b)
        stats = requester.stats(start, time.monotonic_ns())
        assert (stats.sent, stats.lost, stats.dscp_there, stats.dscp_here) == (5, 0, EF, EF)
        assert stats.remarked_here_pct == 0.0 and max(stats.rtt_ms) < 100
        for junk in (os.urandom(SIZE), b"x" * 1400, request(10**18, OTHER), request(10**18, KEY, "lab9")):
            stranger.sendto(junk, ("127.0.0.1", b_port))
        drain(b)
        with pytest.raises(socket.timeout):
            stranger.recvfrom(2048)  # nothing came back
        assert b.reflector.dropped == 4
    finally:
        stranger.close()
        a.close()
        b.close()
