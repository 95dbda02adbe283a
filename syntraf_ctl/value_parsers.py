"""Parse the values users write in an inventory (bandwidth, DSCP, ports, ...) into plain numbers.

Each parser raises ValueError with a message saying what is accepted; callers add where the value came from.
Values may arrive as Python numbers (YAML) or strings (INI inventories, templated values).
"""

from __future__ import annotations

import contextlib
import ipaddress
import math
import re

from syntraf_probe import bounds
from syntraf_probe.bounds import BOUNDS

_SUFFIX = {"": 1, "k": 1_000, "m": 1_000_000, "g": 1_000_000_000}
_BANDWIDTH = re.compile(r"^\s*(\d+(?:\.\d+)?|\.\d+)\s*([kmg]?)\s*$", re.IGNORECASE)
_DSCP_NAMES = {
    "ef": 46,
    **{f"cs{n}": 8 * n for n in range(8)},
    **{f"af{c}{d}": 8 * c + 2 * d for c in range(1, 5) for d in range(1, 4)},
}
_PORT_RANGE = re.compile(r"^\s*(\d+)\s*-\s*(\d+)\s*$")
_HOSTNAME_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
_BOOLEANS = {
    "true": True,
    "yes": True,
    "on": True,
    "1": True,
    "false": False,
    "no": False,
    "off": False,
    "0": False,
}


def _number(value: object, what: str) -> float:
    """A finite number from a YAML number or a string (INI inventories); inf and nan are refused."""
    if isinstance(value, bool):
        raise ValueError(f"expected {what}, got a boolean")
    number = None
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        with contextlib.suppress(ValueError):
            number = float(value.strip())
    if number is None or not math.isfinite(number):
        raise ValueError(f"expected {what}, got {value!r}")
    return number


def within(key: str, value: object) -> float | int:
    """`value` as a number within the probe's bound `key` (syntraf_probe.bounds: one table for both sides)."""
    bound = BOUNDS[key]
    number = _number(value, f"{'an integer' if bound.integer else 'a number'} ({bound.limits()})")
    return bounds.check(key, int(number) if bound.integer and number.is_integer() else number)


def parse_bandwidth(value: object) -> int:
    """Bit/s from `68800`, `100k`, `1.5m` or `1g` (suffixes ×1000, as iperf3 -b); must be positive."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"expected bit/s such as 100k, 1.5m or 68800, got {value!r}")
    match = _BANDWIDTH.match(str(value))
    if not match:
        raise ValueError(
            f"expected bit/s such as 100k, 1.5m or 68800 (suffixes k/m/g = ×1000), got {value!r}"
        )
    bps = round(float(match.group(1)) * _SUFFIX[match.group(2).lower()])
    if bps <= 0:
        raise ValueError(f"must be more than 0 bit/s (iperf3 reads 0 as unlimited), got {value!r}")
    return bps


def parse_edge_bandwidth(value: object) -> int:
    """A mesh group's bit/s: a bandwidth within what the probe runs."""
    return int(within("edges[].bandwidth_bps", parse_bandwidth(value)))


def parse_dscp(value: object) -> int:
    """DSCP 0-63 from an integer or a name: ef, af11..af43, cs0..cs7."""
    if isinstance(value, str) and value.strip().lower() in _DSCP_NAMES:
        return _DSCP_NAMES[value.strip().lower()]
    try:
        return int(within("edges[].dscp", value))
    except ValueError:
        what = "a DSCP value 0-63 or a name (ef, af11..af43, cs0..cs7)"
        raise ValueError(f"expected {what}, got {value!r}") from None


def parse_packet_size(value: object) -> int:
    """UDP payload bytes (iperf3 -l)."""
    return int(within("edges[].packet_size", value))


def parse_interval(value: object) -> float:
    """Reporting interval in seconds (iperf3 -i)."""
    return float(within("edges[].interval", value))


def parse_packets_per_second(value: object) -> float:
    """Packets per second (fractions allowed: 0.5 is one packet every 2 s)."""
    return within("edges[].packets_per_second", value)


def parse_port_range(value: object) -> tuple[int, int]:
    """`15000-16000` -> (15000, 16000), compared as numbers; ports 1-65535, first <= last."""
    match = _PORT_RANGE.match(str(value)) if isinstance(value, str) else None
    if not match:
        raise ValueError(f"expected a port range such as 15000-16000, got {value!r}")
    low, high = int(match.group(1)), int(match.group(2))
    port = BOUNDS["edges[].port"]
    if not (port.low <= low <= port.high and port.low <= high <= port.high):
        raise ValueError(f"ports must be {port.limits()}, got {value!r}")
    if low > high:
        raise ValueError(f"the first port must not be above the last, got {value!r}")
    return low, high


def parse_bool(value: object) -> bool:
    """A boolean, also from INI-style strings (true/false, yes/no, on/off, 1/0)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (str, int)) and str(value).strip().lower() in _BOOLEANS:
        return _BOOLEANS[str(value).strip().lower()]
    raise ValueError(f"expected true or false, got {value!r}")


def parse_address(value: object) -> str:
    """An IPv4/IPv6 address or a DNS name."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"expected an IP address or a DNS name, got {value!r}")
    text = value.strip()
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        pass
    labels = text.rstrip(".").split(".")
    if len(text) > 253 or not all(_HOSTNAME_LABEL.match(label) for label in labels) or labels[-1].isdigit():
        raise ValueError(f"expected an IP address or a DNS name, got {value!r}")
    return text
