"""The WAN lab's delay line: a process in the core router's network namespace that takes every forwarded
packet from NFQUEUE (iptables `-j NFQUEUE`; this kernel has no netem), lets the emulator decide its fate,
and gives the verdict when it is due. It answers `show` and `set` on a Unix socket (one JSON line each way).

    ip netns exec <core> python -m syntraf_ctl.lab.wan.delayline --config wan.json --socket wan.sock
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import select
import signal
import socket
import sys
import time
from pathlib import Path

from netfilterqueue import NetfilterQueue

from syntraf_ctl.lab.errors import LabError
from syntraf_ctl.lab.wan.emulator import Emulator
from syntraf_ctl.lab.wan.spec import Impairment

QUEUE_NUMBER = 0  # NFQUEUE numbers are per network namespace: every lab's core has its own queue 0
QUEUE_MAX_PACKETS = 200_000  # a long hold queues everything that crosses it
SOCKET_BUFFER = 16 << 20
REALTIME_PRIORITY = 10  # delay accuracy on a busy machine; the kernel's RT throttling bounds the risk


def kernel_queue_drops() -> int:
    """Packets the kernel dropped because this namespace's queue was full or the socket overran."""
    try:
        for line in Path("/proc/net/netfilter/nfnetlink_queue").read_text().splitlines():
            values = line.split()
            if int(values[0]) == QUEUE_NUMBER:
                return int(values[5]) + int(values[6])
    except (OSError, ValueError, IndexError):
        pass
    return 0


class DelayLine:
    def __init__(self, config: dict, socket_path: Path) -> None:
        self.raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
        sites = {int(index): name for index, name in config["sites"].items()}
        links = {name: Impairment.from_json(value) for name, value in config["links"].items()}
        self.emulator = Emulator(sites, links, self._send_copy)
        self.queue = NetfilterQueue()
        self.queue.bind(QUEUE_NUMBER, self._receive, max_len=QUEUE_MAX_PACKETS, sock_len=SOCKET_BUFFER)
        with contextlib.suppress(FileNotFoundError):
            socket_path.unlink()
        self.control = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.control.bind(str(socket_path))
        self.control.listen(8)

    def _send_copy(self, data: bytes, destination: str) -> None:
        # A raw socket's packets take the OUTPUT path, not FORWARD: a copy is never queued again.
        self.raw.sendto(data, (destination, 0))

    def _receive(self, packet: object) -> None:
        self.emulator.receive(packet, time.monotonic())

    def run(self) -> None:
        queue_fd = self.queue.get_fd()
        while True:
            due = self.emulator.next_due()
            timeout = None if due is None else max(0.0, due - time.monotonic())
            readable, _, _ = select.select([queue_fd, self.control], [], [], timeout)
            if queue_fd in readable:
                self.queue.run(block=False)
            if self.control in readable:
                self._answer()
            self.emulator.release_due(time.monotonic())

    def _answer(self) -> None:
        connection, _ = self.control.accept()
        with connection, connection.makefile("rw") as stream:
            connection.settimeout(2)
            try:
                request = json.loads(stream.readline())
                reply = self._handle(request)
            except (ValueError, KeyError, TypeError, LabError, OSError) as error:
                reply = {"error": str(error)}
            with contextlib.suppress(OSError):
                stream.write(json.dumps(reply) + "\n")

    def _handle(self, request: dict) -> dict:
        if request["op"] == "set":
            unknown = [name for name in request["links"] if name not in self.emulator.links]
            if unknown:
                raise LabError(f"no link {', '.join(unknown)}")
            self.emulator.change(request["links"], request["changes"], time.monotonic())
        elif request["op"] != "show":
            raise LabError(f"unknown request {request['op']!r}")
        return self.emulator.show() | {"kernel_queue_drops": kernel_queue_drops()}


def _use_realtime_scheduling() -> None:
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(REALTIME_PRIORITY))
    except OSError:
        with contextlib.suppress(OSError):
            os.nice(-10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", type=Path, required=True, help="sites and initial links (JSON)")
    parser.add_argument("--socket", type=Path, required=True, help="Unix socket for show/set")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    _use_realtime_scheduling()
    DelayLine(json.loads(args.config.read_text()), args.socket).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
