"""Turn iperf3 output lines (3.12 text with --forceflush, or 3.17+ --json-stream) into events.

Only what the probe needs: a test's control connection is up, a test started, a receiver interval, a test
ended (cleanly, with its summary, or not), the test's out-of-order count, an error message. Sender interval
lines are dropped here.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Callable, Optional, Union


@dataclass(frozen=True)
class Connected:
    """A test's control connection is up and the peer answered (text: `Connecting to host` on a client,
    printed once the server asked for the parameters; `Accepted connection from` on a server). 3.12 holds
    these lines back until its first interval unless its stdout is line-buffered (iperf3.py)."""


@dataclass(frozen=True)
class RunStarted:
    """A test's data connection is up (text: `connected to`, json: the start event)."""


@dataclass(frozen=True)
class Interval:
    """One receiver interval; start/end are seconds since the test started."""

    start: float
    end: float
    bytes: float
    bits_per_second: float
    jitter_ms: float
    packets: int  # iperf3's Total: how far the sequence numbers advanced
    lost: int  # sequence gaps; can be -1 when a late packet arrives


@dataclass(frozen=True)
class RunEnded:
    """The test is over: `clean` with its summary (text summary line, json end event with streams), not
    clean when a listener waits for its next client without one."""

    clean: bool = True
    out_of_order: Optional[int] = None  # json: end.streams[].udp.out_of_order
    received: Optional[int] = None  # text: the datagrams the test received, from its receiver summary line


@dataclass(frozen=True)
class SenderTotal:
    """The test's sender summary line: the datagrams the sender sent in all (known after the results
    exchange). 3.12's receiver line counts only the gaps it saw, not what was sent after its last arrival."""

    packets: int


@dataclass(frozen=True)
class OutOfOrder:
    """The test's out-of-order and duplicate datagrams (only in the summary: iperf3.md §1)."""

    count: int


@dataclass(frozen=True)
class Failed:
    message: str


Event = Union[Connected, RunStarted, Interval, RunEnded, SenderTotal, OutOfOrder, Failed]

# From iperf3.md §2, checked there against 272 captured 3.12/3.18 receiver lines.
RECEIVER_LINE = re.compile(
    r"\[\s*(?P<id>\d+|SUM)\](?:\[(?P<role>[TR]X-[CS])\])?\s+(?P<start>\d+\.\d+)-\s*(?P<end>\d+\.\d+)\s+sec\s+"
    r"(?P<xfer>[\d.]+)\s+(?P<xunit>[KMGT]?Bytes)\s+(?P<rate>[\d.]+)\s+(?P<runit>[KMGT]?bits/sec)\s+"
    r"(?P<jitter>[\d.]+)\s+ms\s+(?P<lost>-?\d+)/(?P<total>\d+)\s+\((?P<pct>[^)]*)%\)\s*"
    r"(?P<omitted>\(omitted\))?\s*(?P<kind>sender|receiver)?\s*$"
)
UNITS = {"": 1, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
BYTE_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
OUT_OF_ORDER_LINE = re.compile(r"^\[SUM\].*\s(?P<count>\d+) datagrams received out-of-order")
CONNECTED_PREFIXES = ("Connecting to host ", "Accepted connection from ")
ERROR_PREFIXES = ("iperf3: error - ", "iperf3: interrupt - ", "iperf3: parameter error - ", "iperf3: ")


def parse_text_line(line: str) -> Optional[Event]:
    line = line.rstrip("\r\n")
    match = RECEIVER_LINE.search(line)
    if match:
        total = int(match.group("total"))
        if match.group("kind") == "sender":
            return SenderTotal(total)
        if match.group("kind") == "receiver":  # the summary's receiver line ends the test
            return RunEnded(received=total - int(match.group("lost")))
        if match.group("id") == "SUM" or match.group("omitted"):
            return None
        return Interval(
            start=float(match.group("start")),
            end=float(match.group("end")),
            bytes=float(match.group("xfer")) * BYTE_UNITS[match.group("xunit")[:-5]],
            bits_per_second=float(match.group("rate")) * UNITS[match.group("runit")[:-8]],
            jitter_ms=float(match.group("jitter")),
            packets=int(match.group("total")),
            lost=int(match.group("lost")),
        )
    out_of_order = OUT_OF_ORDER_LINE.search(line)
    if out_of_order:
        return OutOfOrder(int(out_of_order.group("count")))
    if line.startswith(CONNECTED_PREFIXES):
        return Connected()
    if " connected to " in line and line.lstrip().startswith("["):
        return RunStarted()
    if line.startswith("Server listening on"):
        return RunEnded(clean=False)
    stripped = line.strip()
    for prefix in ERROR_PREFIXES:
        if stripped.startswith(prefix):
            return Failed(stripped[len(prefix) :])
    return None


def parse_json_line(line: str) -> Optional[Event]:
    try:
        item = json.loads(line)
    except json.JSONDecodeError:
        text = line.strip()
        return parse_text_line(text) if text.startswith("iperf3:") else None
    if not isinstance(item, dict):
        return None
    event, data = item.get("event"), item.get("data")
    if event == "start":
        return RunStarted()
    if event == "end":
        streams = data.get("streams") if isinstance(data, dict) else None
        if not streams:
            return RunEnded(clean=False)
        udp = [stream.get("udp") or {} for stream in streams if isinstance(stream, dict)]
        return RunEnded(out_of_order=sum(int(item.get("out_of_order", 0)) for item in udp))
    if event == "error":
        return Failed(str(data))
    if event == "interval" and isinstance(data, dict):
        total = data.get("sum") or {}
        if total.get("sender") or "jitter_ms" not in total or total.get("omitted"):
            return None
        return Interval(
            start=float(total["start"]),
            end=float(total["end"]),
            bytes=float(total["bytes"]),
            bits_per_second=float(total["bits_per_second"]),
            jitter_ms=float(total["jitter_ms"]),
            packets=int(total["packets"]),
            lost=int(total["lost_packets"]),
        )
    return None


def line_parser(json_stream: bool) -> Callable[[str], Optional[Event]]:
    """The parser of iperf3's output as the probe runs it (--json-stream or text)."""
    return parse_json_line if json_stream else parse_text_line
