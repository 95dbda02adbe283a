"""The limits of every number in a probe config, and the checks of its URLs and tokens.

The probe owns them: its config loader refuses what is outside, and syntraf-ctl validates inventories with
this same module (it imports it; the probe never imports syntraf-ctl), so a plan that validates renders
configs the probe runs. docs/inventory.md lists the table; a test keeps it in step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Union
from urllib.parse import urlsplit

Number = Union[int, float]


@dataclass(frozen=True)
class Bound:
    low: Number
    high: Number
    unit: str
    integer: bool
    why: str

    def limits(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        return f"{show(self.low)}-{show(self.high)}{unit}"


# Keys are the probe config's (docs/probe-config.md); `edges[]` keys are per edge.
BOUNDS: dict[str, Bound] = {
    "edges[].bandwidth_bps": Bound(
        1,
        100_000_000_000,
        "bit/s",
        True,
        "iperf3 reads -b 0 as unlimited; one iperf3 paces 100 Gbit/s at most",
    ),
    "edges[].packet_size": Bound(
        16, 65507, "bytes", True, "iperf3's smallest UDP payload (-l) to the largest an IPv4 datagram carries"
    ),
    "edges[].packets_per_second": Bound(
        0.001,
        10_000_000,
        "packets/s",
        False,
        "configs keep 3 decimals; one iperf3 sends 10 million/s at most",
    ),
    "edges[].dscp": Bound(0, 63, "", True, "the 6-bit DSCP field"),
    "edges[].interval": Bound(0.1, 60, "s", False, "what iperf3 -i accepts"),
    "edges[].port": Bound(1, 65535, "", True, "TCP and UDP ports"),
    "iperf3.test_duration": Bound(1, 86400, "s", True, "one bounded test (-t), at most a day"),
    "iperf3.connect_timeout_ms": Bound(100, 600_000, "ms", True, "iperf3 --connect-timeout"),
    "auth.time_skew_threshold": Bound(1, 86400, "s", True, "iperf3 --time-skew-threshold"),
    "schedule.epoch_seconds": Bound(
        10, 86400, "s", True, "a rotating group's epoch: each starts new tests, so a few intervals at least"
    ),
    "echo.port": Bound(1, 65535, "", True, "the group's echo socket (UDP)"),
    "echo.rate": Bound(1, 50, "requests/s", False, "per pair: low, next to a voice flow of 50 packets/s"),
    "spool.max_bytes": Bound(1 << 20, 1 << 40, "bytes", True, "per database, on the host's disk"),
}


def show(number: Number) -> str:
    """A number as people write it: 100000000000 (not 1e+11), 0.001, 60."""
    return str(number) if isinstance(number, int) else f"{number:g}"


def check(key: str, value: Number) -> Number:
    """`value` if it is a finite number within BOUNDS[key]; ValueError saying the limits and why otherwise."""
    bound = BOUNDS[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"expected a number ({bound.limits()}), got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"expected a finite number ({bound.limits()}), got {value!r}")
    if bound.integer and not float(value).is_integer():
        raise ValueError(f"expected a whole number ({bound.limits()}), got {value!r}")
    if not bound.low <= value <= bound.high:
        raise ValueError(f"{show(value)} is outside {bound.limits()} ({bound.why})")
    return value


def check_url(url: str) -> str:
    """`url` if it is an http(s) URL with a host and a valid port, and nothing a header could be smuggled in
    with (whitespace, control characters) or a credential hidden in (user:password@); ValueError otherwise."""
    bad = next((c for c in url if c.isspace() or not c.isprintable()), None)
    if bad is not None:
        raise ValueError(f"{url!r} contains {bad!r}: no whitespace or control characters in a URL")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"{url!r}: expected http:// or https://host[:port]")
    if "@" in parts.netloc:
        raise ValueError(f"{url!r}: no user:password@ in the URL (the token authenticates)")
    if not parts.hostname:
        raise ValueError(f"{url!r}: no host")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{url!r}: the port must be a number 1-65535") from None
    if port is not None and not 1 <= port <= 65535:
        raise ValueError(f"{url!r}: the port must be a number 1-65535")
    if parts.query or parts.fragment:
        raise ValueError(f"{url!r}: no ?query or #fragment (the client adds its own)")
    return url


def check_token(token: str) -> str:
    """`token` (surrounding whitespace already stripped) if it can be sent in an HTTP header."""
    if not token:
        raise ValueError("the token is empty")
    if any(c.isspace() or not c.isprintable() for c in token):
        raise ValueError("the token contains whitespace or control characters (a line break?)")
    return token
