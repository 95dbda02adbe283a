"""Real datagrams across the WAN lab, from a socket in one site's namespace to one in another's: each
carries its sequence number and its send time, and the receiving kernel stamps its arrival (one machine,
one clock; the kernel's stamp keeps the test's own thread scheduling out of the figure), so the receiver
knows every datagram's one-way delay and the order of arrival."""

from __future__ import annotations

import socket
import struct
import threading
import time
from dataclasses import dataclass, field

from netns_sockets import udp_socket

from syntraf_ctl.lab.state import LabState

HEADER = struct.Struct("!Qd")  # sequence number, send time (time.time)
ARRIVAL = struct.Struct("qq")  # SO_TIMESTAMPNS: the kernel's receive time, seconds and nanoseconds
SO_TIMESTAMPNS = 35  # Linux; Python's socket module names it only from 3.14
RECEIVE_PORT = 40000

Endpoint = tuple[str, str]  # (network namespace, address)


def endpoint(state: LabState, host: str) -> Endpoint:
    """Where `host` measures from: its namespace and its address in its site."""
    return state.host(host).netns, state.host(host).wan_address


@dataclass
class Arrivals:
    sequence: list[int] = field(default_factory=list)  # in arrival order
    delays_ms: list[float] = field(default_factory=list)
    sources: set[str] = field(default_factory=set)

    @property
    def out_of_order(self) -> int:
        """Datagrams that arrived after one with a higher sequence number."""
        highest, late = -1, 0
        for number in self.sequence:
            if number < highest:
                late += 1
            highest = max(highest, number)
        return late


class Receiver:
    """Collects datagrams at (netns, address):RECEIVE_PORT in a thread, until `stop`."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.socket = udp_socket(*endpoint, RECEIVE_PORT)
        self.socket.settimeout(0.05)
        self.socket.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.arrivals = Arrivals()
        self.last_arrival = time.monotonic()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._receive)
        self._thread.start()

    def _receive(self) -> None:
        while not self._stopping.is_set():
            try:
                data, ancillary, _, (source, _) = self.socket.recvmsg(4096, 64)
            except TimeoutError:
                continue
            seconds, nanoseconds = next(
                ARRIVAL.unpack(value) for _, kind, value in ancillary if kind == SO_TIMESTAMPNS
            )
            number, sent_at = HEADER.unpack_from(data)
            self.arrivals.delays_ms.append((seconds + nanoseconds / 1e9 - sent_at) * 1000)
            self.arrivals.sequence.append(number)
            self.arrivals.sources.add(source)
            self.last_arrival = time.monotonic()

    def stop(self, quiet: float) -> Arrivals:
        """Stop once nothing has arrived for `quiet` seconds; what arrived."""
        while time.monotonic() - self.last_arrival < quiet:
            time.sleep(0.05)
        self._stopping.set()
        self._thread.join()
        self.socket.close()
        return self.arrivals


def send(sender: Endpoint, destination: str, count: int, rate: float, size: int = 172, tos: int = 0) -> int:
    """Send `count` datagrams of `size` bytes at `rate` per second; return the sender's port."""
    with udp_socket(*sender) as outgoing:
        outgoing.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, tos)
        start = time.monotonic()
        for number in range(count):
            time.sleep(max(0.0, start + number / rate - time.monotonic()))
            payload = HEADER.pack(number, time.time()).ljust(size, b"\0")
            outgoing.sendto(payload, (destination, RECEIVE_PORT))
        return outgoing.getsockname()[1]


def send_and_receive(
    sender: Endpoint, receiver: Endpoint, count: int, rate: float, quiet: float = 1.0, **options: int
) -> tuple[int, Arrivals]:
    """Send from `sender` to `receiver` and collect until quiet for `quiet` s; (sender's port, arrivals)."""
    collecting = Receiver(receiver)
    try:
        port = send(sender, receiver[1], count, rate, **options)
    finally:
        arrivals = collecting.stop(quiet)
    return port, arrivals
