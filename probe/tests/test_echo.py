"""The echo: its packets, the reflector's refusals, the requester's statistics, and real sockets on
loopback (the TOS byte read with IP_RECVTOS)."""

from __future__ import annotations

import hashlib
import math
import os
import socket
import struct
import time
from typing import Callable, Optional

import pytest
from syntraf_probe.echo import (
    REPLY,
    REQUEST,
    SIZE,
    EchoSocket,
    MacKey,
    Message,
    Reflector,
    Requester,
    echo_key,
    pack,
    unpack,
    user_field,
    users_hash,
)

KEY = echo_key(users_hash("lab2", "pair-password"))
OTHER = echo_key(users_hash("lab2", "another-password"))
EF = 46
MS = 1_000_000
LAB2 = user_field("lab2")


def keys(user: str, key: MacKey) -> Callable[[bytes], Optional[MacKey]]:
    return {user_field(user): key}.get


def request(sequence: int, key: MacKey = KEY, user: str = "lab2") -> bytes:
    return pack(Message(REQUEST, user_field(user), sequence, 123, 0, 0), key)


def fields(message: Optional[Message]) -> tuple:
    """A message's fields, nothing heard (NaN, which equals nothing) as None."""
    assert message is not None
    return (*message[:6], *(None if math.isnan(value) else value for value in message[6:]))


def test_a_packet_is_accepted_only_whole_and_under_its_users_key():
    data = request(7)
    assert len(data) == SIZE
    assert fields(unpack(data, keys("lab2", KEY))) == (REQUEST, LAB2, 7, 123, 0, 0, None, None)
    assert unpack(data, keys("lab2", OTHER)) is None  # another pair's key
    assert unpack(data, keys("lab3", KEY)) is None  # a user nobody configured
    assert unpack(data[:-1], keys("lab2", KEY)) is None and unpack(data + b"x", keys("lab2", KEY)) is None
    flipped = bytes([data[0] ^ 1]) + data[1:]
    assert unpack(flipped, keys("lab2", KEY)) is None
    tampered = data[:-20] + bytes([data[-20] ^ 1]) + data[-19:]  # the loss heard, after the MAC was made
    assert unpack(tampered, keys("lab2", KEY)) is None
    # the key is derived, not the credential's hash itself (which iperf3's users file holds)
    credential = hashlib.blake2s(key=bytes.fromhex(users_hash("lab2", "pair-password")), digest_size=16)
    assert unpack(request(7, key=credential), keys("lab2", KEY)) is None


def test_the_reflector_answers_each_valid_request_once_and_never_more_than_it_got():
    reflector = Reflector({"lab2": KEY}, rate=20)
    reply = reflector.answer(request(1), tos=EF << 2, received_ns=0, now_ns=3 * MS)
    assert reply is not None and len(reply) == len(request(1))
    assert fields(unpack(reply, keys("lab2", KEY))) == (REPLY, LAB2, 1, 123, EF << 2, 3 * MS, None, None)
    assert reflector.answer(request(1), EF << 2, 10 * MS, 10 * MS) is None  # a replay
    assert reflector.answer(request(0), EF << 2, 20 * MS, 20 * MS) is None  # older than the last answered
    assert reflector.answer(reply, EF << 2, 30 * MS, 30 * MS) is None  # a reply is never answered
    assert reflector.answer(request(2, OTHER), 0, 40 * MS, 40 * MS) is None  # foreign: another key
    assert reflector.answer(os.urandom(SIZE), 0, 50 * MS, 50 * MS) is None  # junk
    assert reflector.answer(b"", 0, 60 * MS, 60 * MS) is None
    assert reflector.dropped == 6


def test_a_reply_copies_what_the_reflector_heard_from_the_requester_in_the_requests_room():
    """One exchange serves a pair's two edges (voice.py): the reply carries the jitter and loss of the
    reflector's last iperf3 interval of the requester's edge to it, in room the request already has."""
    heard = {LAB2: (1.25, 3.0)}
    reflector = Reflector({"lab2": KEY, "lab3": OTHER}, rate=20, heard=heard.get)
    reply = reflector.answer(request(1), EF << 2, 0, 0)
    assert reply is not None and len(reply) == len(request(1)) == SIZE
    assert fields(unpack(reply, keys("lab2", KEY)))[6:] == (1.25, 3.0)
    nothing = reflector.answer(request(1, OTHER, "lab3"), EF << 2, 0, 0)  # lab3's edge: no interval up
    assert fields(unpack(nothing, keys("lab3", OTHER)))[6:] == (None, None)
    requester = Requester("lab2", KEY, EF, first_sequence=10, timeout_ns=1000 * MS)
    for k, loss in enumerate((3.0, 5.0)):
        heard[LAB2] = (1.25, loss)
        data = requester.request(k * 100 * MS)
        assert requester.on_reply(reflector.answer(data, EF << 2, 0, 0), EF << 2, (k * 100 + 80) * MS)
    assert requester.stats(0, 1000 * MS).heard == (1.25, 5.0)  # the latest reply's


def test_a_packet_of_the_previous_version_is_dropped_and_counted_never_parsed():
    """A mixed pair (one end upgraded) fails closed: SYE2 packets, MAC valid under the pair's key, are
    junk to SYE3 (another magic and size); an SYE2 end drops SYE3's likewise (it wanted its own size)."""
    body = struct.pack(f"!4sB{len(LAB2)}sQQBI", b"SYE2", REQUEST, LAB2, 1, 123, 0, 0)
    mac = KEY.copy()
    mac.update(body)
    old = body + mac.digest()
    reflector = Reflector({"lab2": KEY}, rate=20)
    assert reflector.answer(old, EF << 2, 0, 0) is None and reflector.dropped == 1
    requester = Requester("lab2", KEY, EF, first_sequence=0, timeout_ns=1000 * MS)
    requester.request(0)
    old_reply = struct.pack(f"!4sB{len(LAB2)}sQQBI", b"SYE2", REPLY, LAB2, 1, 0, 0, 0)
    mac = KEY.copy()
    mac.update(old_reply)
    assert not requester.on_reply(old_reply + mac.digest(), EF << 2, MS)
    assert len(old) < SIZE and request(1)[:4] == b"SYE3"


def test_the_reflector_is_rate_limited_per_user():
    reflector = Reflector({"lab2": KEY}, rate=20)
    answered = sum(
        reflector.answer(request(n), 0, n * MS, n * MS) is not None for n in range(1, 1001)
    )  # 1000/s
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
        # the request waits k ms at the reflector (a drain later): not part of the round trip
        arrived = sent + 40 * MS
        reply = reflector.answer(data, there, arrived, arrived + k * MS)
        assert requester.on_reply(reply, EF << 2, sent + (80 + 2 * k) * MS)
        assert not requester.on_reply(reply, EF << 2, sent + (81 + 2 * k) * MS)  # a duplicate
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
    reply = Reflector({"lab2": KEY}, rate=10).answer(data, EF << 2, 0, 0)
    assert not requester.on_reply(pack(Message(REPLY, LAB2, 1, 0, 0, 0), OTHER), 0, MS)
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
            echo.drain()
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
            a.send_requests()
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


def test_two_peers_that_ask_each_other_from_their_one_socket_each_get_answered():
    """A pair with an edge each way: each socket is both the other's requester and its reflector, so
    requests and replies come from the same address (the drain sends only replies to a requester)."""
    a_port, b_port = free_udp_port(), free_udp_port()
    lab3 = echo_key(users_hash("lab3", "pair-password"))
    a = EchoSocket("127.0.0.1", a_port, EF, Reflector({"lab3": lab3}, rate=10))
    b = EchoSocket("127.0.0.1", b_port, EF, Reflector({"lab2": KEY}, rate=10))
    try:
        a.requesters[("127.0.0.1", b_port)] = Requester("lab2", KEY, EF, time.time_ns(), 1000 * MS)
        b.requesters[("127.0.0.1", a_port)] = Requester("lab3", lab3, EF, time.time_ns(), 1000 * MS)
        start = time.monotonic_ns()
        for _ in range(3):
            a.send_requests()
            b.send_requests()
            drain(a, b, seconds=0.02)
        drain(a, b)
        for echo in (a, b):
            stats = next(iter(echo.requesters.values())).stats(start, time.monotonic_ns())
            assert (stats.sent, stats.lost, echo.reflector.dropped) == (3, 0, 0)
    finally:
        a.close()
        b.close()


def test_a_round_trip_excludes_the_time_datagrams_wait_for_a_drain():
    """The sockets are read on a timer (echo.py): a request that waited 300 ms for the reflector's drain,
    and a reply that waited 300 ms for the requester's, still give the loopback's round trip (kernel
    arrival times; the reply carries the reflector's wait). Read at drain time, it would be over 600 ms."""
    a_port, b_port = free_udp_port(), free_udp_port()
    a = EchoSocket("127.0.0.1", a_port, EF, Reflector({}, rate=10))
    b = EchoSocket("127.0.0.1", b_port, EF, Reflector({"lab2": KEY}, rate=10))
    try:
        requester = Requester("lab2", KEY, EF, first_sequence=time.time_ns(), timeout_ns=2000 * MS)
        a.requesters[("127.0.0.1", b_port)] = requester
        start = time.monotonic_ns()
        a.send_requests()
        time.sleep(0.3)
        b.drain()
        time.sleep(0.3)
        a.drain()
        stats = requester.stats(start, time.monotonic_ns())
        assert (stats.sent, stats.lost) == (1, 0)
        assert stats.rtt_ms[0] < 100  # under load too: 600 ms of waiting are not in it
    finally:
        a.close()
        b.close()


def test_the_reflector_answers_only_the_users_it_is_told():
    """A rotating group's reflector answers the current epoch's peers only (voice.py)."""
    lab3 = echo_key(users_hash("lab3", "pair-password"))
    reflector = Reflector({"lab2": KEY, "lab3": lab3}, rate=20)
    reflector.answer_only({"lab3", "lab9"})  # lab9: a peer without a key stays unanswered
    assert reflector.answer(request(1), EF << 2, 0, 0) is None  # lab2: a peer of another epoch
    assert reflector.answer(request(1, lab3, "lab3"), EF << 2, 0, 0) is not None
    reflector.answer_only({"lab2", "lab3"})
    assert reflector.answer(request(2), EF << 2, MS, MS) is not None
    assert reflector.dropped == 1
