"""The WAN emulator's decisions, free of I/O: for each IPv4 packet crossing the core, which link it is on,
whether it is dropped, remarked, duplicated, reordered or held, and when it leaves; with the ground truth
per flow (what came in, left, was dropped or duplicated). `delayline.py` feeds it real packets from NFQUEUE.
"""

from __future__ import annotations

import heapq
import ipaddress
import random
import struct
from dataclasses import asdict, dataclass, field
from typing import Callable, Protocol

from syntraf_ctl.lab.wan.spec import Impairment, apply_changes

DATA_MIN_PAYLOAD = 16  # smaller UDP datagrams (iperf3's 4-byte UDP connect handshake) are never lost
SWAP_WAIT = 1.0  # s a reordered datagram waits for the next one of its flow before it leaves anyway
SITE_NETWORK = ipaddress.IPv4Network(
    "198.18.0.0/15"
)  # site LANs (198.18) and uplinks (198.19): 3rd octet = site
PROTOCOLS = {1: "icmp", 6: "tcp", 17: "udp"}

FlowKey = tuple[str, str, int, str, int]  # protocol, source, source port, destination, destination port


class Packet(Protocol):
    """What the emulator needs of a queued packet (netfilterqueue.Packet has it)."""

    def get_payload(self) -> bytes: ...
    def set_payload(self, payload: bytes) -> None: ...
    def accept(self) -> None: ...
    def drop(self) -> None: ...


@dataclass
class FlowCounters:
    received: int = 0
    forwarded: int = 0  # left the emulator (duplicates not included)
    dropped: int = 0
    duplicated: int = 0  # extra copies sent
    reordered: int = 0
    remarked: int = 0


@dataclass
class Header:
    protocol: str
    source: str
    destination: str
    source_port: int
    destination_port: int
    dscp: int
    payload_length: int  # of the UDP or TCP segment, headers excluded for UDP

    @property
    def flow(self) -> FlowKey:
        return (self.protocol, self.source, self.source_port, self.destination, self.destination_port)

    @property
    def is_data(self) -> bool:
        return self.protocol == "udp" and self.payload_length >= DATA_MIN_PAYLOAD


@dataclass
class LinkState:
    impairment: Impairment
    in_burst: bool = False
    held: list[tuple[float, Packet, Header, bytes | None]] = field(default_factory=list)


def parse_header(data: bytes) -> Header:
    ihl = (data[0] & 0x0F) * 4
    total = struct.unpack_from("!H", data, 2)[0]
    protocol = PROTOCOLS.get(data[9], str(data[9]))
    ports = struct.unpack_from("!HH", data, ihl) if data[9] in (6, 17) else (0, 0)
    return Header(
        protocol=protocol,
        source=str(ipaddress.IPv4Address(data[12:16])),
        destination=str(ipaddress.IPv4Address(data[16:20])),
        source_port=ports[0],
        destination_port=ports[1],
        dscp=data[1] >> 2,
        payload_length=total - ihl - (8 if data[9] == 17 else 0),
    )


def with_dscp(data: bytes, dscp: int) -> bytes:
    """The packet with its DSCP replaced (ECN bits kept) and its IPv4 header checksum recomputed."""
    header = bytearray(data[: (data[0] & 0x0F) * 4])
    header[1] = (dscp << 2) | (header[1] & 0x03)
    header[10:12] = b"\0\0"
    total = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    header[10:12] = struct.pack("!H", ~total & 0xFFFF)
    return bytes(header) + data[len(header) :]


def site_index(address: str) -> int | None:
    parsed = ipaddress.IPv4Address(address)
    return parsed.packed[2] if parsed in SITE_NETWORK else None


class Emulator:
    """`sites`: site index -> name; `links`: "a>b" -> impairment; `send_copy(packet bytes, destination)`
    sends a duplicate on its way; `rng` draws every random choice."""

    def __init__(
        self,
        sites: dict[int, str],
        links: dict[str, Impairment],
        send_copy: Callable[[bytes, str], None],
        rng: random.Random | None = None,
    ) -> None:
        self.sites = sites
        self.links = {name: LinkState(impairment) for name, impairment in links.items()}
        self.send_copy = send_copy
        self.rng = rng or random.Random()
        self.flows: dict[FlowKey, FlowCounters] = {}
        self._queue: list[tuple[float, int, Packet, Header, bytes | None]] = []  # (due, order, ..., copy)
        self._order = 0
        self._last_due: dict[FlowKey, float] = {}  # a flow never overtakes itself (jitter keeps order)
        self._swaps: dict[FlowKey, tuple[float, Packet, Header, bytes | None]] = {}  # (since, ...)

    def _link_between(self, source_address: str, destination_address: str) -> str | None:
        source, destination = site_index(source_address), site_index(destination_address)
        if source not in self.sites or destination not in self.sites or source == destination:
            return None
        return f"{self.sites[source]}>{self.sites[destination]}"

    def receive(self, packet: Packet, now: float) -> None:
        data = packet.get_payload()
        header = parse_header(data)
        counters = self.flows.setdefault(header.flow, FlowCounters())
        counters.received += 1
        name = self._link_between(header.source, header.destination)
        if name is None:  # not between two sites of this lab: pass untouched
            counters.forwarded += 1
            packet.accept()
            return
        link = self.links[name]
        impairment = link.impairment
        if impairment.blackhole or (header.is_data and self._lost(link)):
            counters.dropped += 1
            packet.drop()
            return
        if impairment.remark and header.dscp == impairment.remark[0]:
            data = with_dscp(data, impairment.remark[1])
            packet.set_payload(data)
            counters.remarked += 1
        due = now + impairment.delay_ms / 1000
        if impairment.jitter_ms:
            due += self.rng.uniform(-impairment.jitter_ms, impairment.jitter_ms) / 1000
        copy = data if header.is_data and self._chance(impairment.dup_pct) else None
        if impairment.hold:
            link.held.append((due, packet, header, copy))
        elif header.is_data and self._chance(impairment.reorder_pct) and header.flow not in self._swaps:
            counters.reordered += 1
            self._swaps[header.flow] = (now, packet, header, copy)
        else:
            self._schedule(due, packet, header, copy)

    def _lost(self, link: LinkState) -> bool:
        impairment = link.impairment
        if not link.in_burst and self._chance(impairment.burst_pct):
            link.in_burst = True
        if link.in_burst:
            if self.rng.random() < 1 / impairment.burst_len:
                link.in_burst = False
            return True
        return self._chance(impairment.loss_pct)

    def _chance(self, percent: float) -> bool:
        return percent > 0 and self.rng.random() * 100 < percent

    def _schedule(self, due: float, packet: Packet, header: Header, copy: bytes | None) -> None:
        due = max(due, self._last_due.get(header.flow, due))
        self._last_due[header.flow] = due
        self._push(due, packet, header, copy)
        swapped = self._swaps.pop(header.flow, None)
        if swapped is not None:  # the datagram that waited for this one leaves right after it
            self._push(due, *swapped[1:])

    def _push(self, due: float, packet: Packet, header: Header, copy: bytes | None) -> None:
        self._order += 1
        heapq.heappush(self._queue, (due, self._order, packet, header, copy))

    def next_due(self) -> float | None:
        """When `release_due` next has something to do (None: nothing is waiting)."""
        times = [self._queue[0][0]] if self._queue else []
        times += [since + SWAP_WAIT for since, *_ in self._swaps.values()]
        return min(times, default=None)

    def release_due(self, now: float) -> None:
        for flow, (since, packet, header, copy) in list(self._swaps.items()):
            if now >= since + SWAP_WAIT:
                del self._swaps[flow]
                self.flows[flow].reordered -= 1  # no later datagram came to overtake it: it leaves in order
                self._push(now, packet, header, copy)
        while self._queue and self._queue[0][0] <= now:
            _, _, packet, header, copy = heapq.heappop(self._queue)
            packet.accept()
            counters = self.flows[header.flow]
            counters.forwarded += 1
            if copy is not None:
                self.send_copy(copy, header.destination)
                counters.duplicated += 1

    def change(self, names: list[str], changes: dict[str, object], now: float) -> None:
        """Change links `names`; a hold that ends releases what it queued, in order, no earlier than now."""
        updated = {name: apply_changes(self.links[name].impairment, changes) for name in names}
        for name, impairment in updated.items():
            link = self.links[name]
            link.impairment = impairment
            if not impairment.hold:
                for due, packet, header, copy in link.held:
                    self._schedule(max(due, now), packet, header, copy)
                link.held.clear()

    def show(self) -> dict:
        return {
            "links": {
                name: {
                    "settings": state.impairment.as_json(),
                    "text": state.impairment.text(),
                    "held": len(state.held),
                }
                for name, state in self.links.items()
            },
            "flows": [
                {"protocol": p, "source": s, "source_port": sp, "destination": d, "destination_port": dp}
                | {"link": self._link_between(s, d)}
                | asdict(counters)
                for (p, s, sp, d, dp), counters in self.flows.items()
            ],
            "in_flight": len(self._queue) + len(self._swaps),
        }
