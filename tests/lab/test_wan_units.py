"""The WAN lab's pure parts: its settings syntax, the site plan and inventory, and the emulator's
decisions on synthetic packets (the network tests in tests/wan check the same with real ones)."""

from __future__ import annotations

import random
import struct
from pathlib import Path

import pytest
import yaml

from syntraf_ctl.lab.errors import LabError
from syntraf_ctl.lab.lab_inventory import render_inventory
from syntraf_ctl.lab.state import plan_lab
from syntraf_ctl.lab.wan import topology
from syntraf_ctl.lab.wan.emulator import Emulator, parse_header, with_dscp
from syntraf_ctl.lab.wan.spec import Impairment, parse_changes, parse_link_names, parse_sites, parse_wan


def test_sites_and_links_syntax() -> None:
    assert parse_sites("a:2,b:1") == {"a": 2, "b": 1}
    assert parse_link_names("a-b", ["a", "b", "c"]) == ["a>b", "b>a"]
    assert parse_link_names("c>a", ["a", "b", "c"]) == ["c>a"]
    assert len(parse_link_names("all", ["a", "b", "c"])) == 6
    links = parse_wan(["a-b delay=40ms jitter=2ms loss=0.5%; b>a remark=ef:cs0"], ["a", "b"])
    assert links["a>b"] == Impairment(delay_ms=40, jitter_ms=2, loss_pct=0.5)
    assert links["b>a"].remark == (46, 0)
    assert links["b>a"].text() == "delay=40ms jitter=2ms loss=0.5% remark=46:0"
    assert parse_changes(["delay=0.3s", "hold=on", "burst=1%", "burst_len=4"]) == {
        "delay_ms": 300.0,
        "hold": True,
        "burst_pct": 1.0,
        "burst_len": 4.0,
    }
    assert parse_changes(["clean"])["delay_ms"] == 0.0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: parse_sites("a:2"), "2 to 250 sites"),
        (lambda: parse_sites("a:2,a:1"), "given twice"),
        (lambda: parse_sites("A:2,b:1"), "expected NAME:HOSTS"),
        (lambda: parse_link_names("a-d", ["a", "b"]), "no site d"),
        (lambda: parse_changes(["delay=40"]), "a duration"),
        (lambda: parse_changes(["loss=2"]), "a percentage"),
        (lambda: parse_changes(["speed=1"]), "KEY one of"),
        (lambda: parse_changes(["remark=ef:cs9"]), "FROM:TO DSCP"),
        (lambda: parse_wan(["a-b jitter=5ms"], ["a", "b"]), "larger than the delay"),
    ],
)
def test_bad_settings_are_refused_with_the_reason(call: object, message: str) -> None:
    with pytest.raises(LabError, match=message):
        call()


def test_site_plan_and_inventory() -> None:
    state = plan_lab("w1", 3, "203.0.113.0/27", ["bookworm"] * 3, 8428, Path("/inv"), Path("/state"))
    topology.plan_sites(state, {"a": 2, "c": 1}, ["c"], ["a-c delay=75ms"])
    assert [(h.name, h.site, h.wan_address) for h in state.hosts] == [
        ("lab1", "a", "198.18.1.11"),
        ("lab2", "a", "198.18.1.12"),
        ("lab3", "c", "198.18.2.13"),
    ]
    assert (
        topology.seen_as(state, "lab3") == "198.19.2.2" and topology.seen_as(state, "lab1") == "198.18.1.11"
    )
    hosts = yaml.safe_load(render_inventory(state, "token")["hosts.yml"])["all"]["hosts"]
    assert hosts["lab1"] == {"ansible_host": "203.0.113.11", "syntraf_address": "198.18.1.11"}
    assert hosts["lab3"]["syntraf_behind_nat"] is True
    with pytest.raises(LabError, match="places 2 hosts"):
        topology.plan_sites(
            plan_lab("w1", 3, "203.0.113.0/27", ["bookworm"] * 3, 8428, Path("/i")), {"a": 1, "b": 1}, [], []
        )


class FakePacket:
    def __init__(self, number: int, size: int = 172, tos: int = 0, accepted: list[int] | None = None) -> None:
        header = struct.pack(
            "!BBHHHBBH4s4s", 0x45, tos, 20 + 8 + size, 0, 0, 64, 17, 0, bytes([198, 18, 1, 11]),
            bytes([198, 18, 2, 13]),
        )  # fmt: skip
        udp = struct.pack("!HHHH", 5000, 6000, 8 + size, 0)
        self.data = header + udp + number.to_bytes(4, "big").ljust(size, b"\0")
        self.number = number
        self.accepted = accepted if accepted is not None else []
        self.verdict: str | None = None

    def get_payload(self) -> bytes:
        return self.data

    def set_payload(self, payload: bytes) -> None:
        self.data = payload

    def accept(self) -> None:
        self.verdict = "accept"
        self.accepted.append(self.number)

    def drop(self) -> None:
        self.verdict = "drop"


def emulator(impairment: Impairment, copies: list | None = None) -> Emulator:
    links = {"a>b": impairment, "b>a": Impairment()}
    return Emulator({1: "a", 2: "b"}, links, lambda data, _: (copies or []).append(data), random.Random(1))


def test_jitter_never_reorders_a_flow() -> None:
    em = emulator(Impairment(delay_ms=40, jitter_ms=20))
    accepted: list[int] = []
    for number in range(200):
        em.receive(FakePacket(number, accepted=accepted), number * 0.005)
        em.release_due(number * 0.005)
    em.release_due(10.0)
    assert accepted == list(range(200))
    assert em.flows[parse_header(FakePacket(0).data).flow].forwarded == 200


def test_reordered_counts_only_datagrams_that_a_later_one_overtook() -> None:
    """CI, WAN lab: the flow's last datagram, chosen to wait for the next, left after SWAP_WAIT in order,
    yet counted as reordered: the ground truth said one more than the receiver saw (a 10 % flake)."""
    em = emulator(Impairment(reorder_pct=100))
    accepted: list[int] = []
    for number in range(5):  # every datagram would be swapped; the 5th has no successor
        em.receive(FakePacket(number, accepted=accepted), number * 0.01)
        em.release_due(number * 0.01)
    em.release_due(10.0)
    assert accepted == [1, 0, 3, 2, 4]
    assert em.flows[parse_header(FakePacket(0).data).flow].reordered == 2


def test_hold_keeps_everything_until_released_then_in_order() -> None:
    em = emulator(Impairment(hold=True))
    accepted: list[int] = []
    packets = [FakePacket(n, accepted=accepted) for n in range(50)]
    for n, packet in enumerate(packets):
        em.receive(packet, n * 0.02)
        em.release_due(n * 0.02)
    assert all(p.verdict is None for p in packets) and em.show()["links"]["a>b"]["held"] == 50
    em.change(["a>b"], {"hold": False}, 2.0)
    em.release_due(2.0)
    assert accepted == list(range(50))


def test_small_datagrams_are_never_lost_and_remarking_keeps_a_valid_checksum() -> None:
    em = emulator(Impairment(loss_pct=100))
    handshake, data = FakePacket(1, size=4), FakePacket(2)
    em.receive(handshake, 0)
    em.receive(data, 0)
    em.release_due(1)
    assert (handshake.verdict, data.verdict) == ("accept", "drop")
    remarked = with_dscp(FakePacket(3, tos=46 << 2).data, 0)
    assert parse_header(remarked).dscp == 0
    words = struct.unpack("!10H", remarked[:20])
    assert (sum(words) + (sum(words) >> 16)) & 0xFFFF == 0xFFFF  # a header with a valid checksum sums to ~0
