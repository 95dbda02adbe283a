"""Parse the values users write in an inventory (bandwidth, DSCP, ports, ...) into plain numbers.

Each parser raises ValueError with a message saying what is accepted; callers add where the value came from.
Values may arrive as Python numbers (YAML) or strings (INI inventories, templated values).
"""

from __future__ import annotations

import ipaddress
import re

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

PACKET_SIZE_MIN, PACKET_SIZE_MAX = 16, 65507  # UDP payload: iperf3's minimum, IPv4's maximum
INTERVAL_MIN, INTERVAL_MAX = 0.1, 60.0  # what iperf3 -i accepts
PORT_MIN, PORT_MAX = 1, 65535


def _number(value: object, what: str) -> float:
    if isinstance(value, bool):
        raise ValueError(f"expected {what}, got a boolean")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            pass
    raise ValueError(f"expected {what}, got {value!r}")


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
        raise ValueError(f"must be more than 0 bit/s, got {value!r}")
    return bps


def parse_dscp(value: object) -> int:
    """DSCP 0-63 from an integer or a name: ef, af11..af43, cs0..cs7."""
    if isinstance(value, str) and value.strip().lower() in _DSCP_NAMES:
        return _DSCP_NAMES[value.strip().lower()]
    what = "a DSCP value 0-63 or a name (ef, af11..af43, cs0..cs7)"
    number = _number(value, what)
    if not number.is_integer() or not 0 <= number <= 63:
        raise ValueError(f"expected {what}, got {value!r}")
    return int(number)


def parse_int(value: object, low: int, high: int | None = None, what: str = "an integer") -> int:
    """An integer within [low, high] (high None = unbounded)."""
    bounds = f"{low}-{high}" if high is not None else f">= {low}"
    number = _number(value, f"{what} ({bounds})")
    if not number.is_integer() or number < low or (high is not None and number > high):
        raise ValueError(f"expected {what} ({bounds}), got {value!r}")
    return int(number)


def parse_packet_size(value: object) -> int:
    """UDP payload bytes (iperf3 -l), 16-65507."""
    return parse_int(value, PACKET_SIZE_MIN, PACKET_SIZE_MAX, "a UDP payload size in bytes")


def parse_interval(value: object) -> float:
    """Reporting interval in seconds, 0.1-60 (iperf3 -i)."""
    number = _number(value, f"seconds ({INTERVAL_MIN:g}-{INTERVAL_MAX:g})")
    if not INTERVAL_MIN <= number <= INTERVAL_MAX:
        raise ValueError(f"expected seconds between {INTERVAL_MIN:g} and {INTERVAL_MAX:g}, got {value!r}")
    return number


def parse_packets_per_second(value: object) -> float:
    """Packets per second, more than 0 (fractions allowed: 0.5 is one packet every 2 s)."""
    number = _number(value, "packets per second (more than 0)")
    if number <= 0:
        raise ValueError(f"expected packets per second more than 0, got {value!r}")
    return number


def parse_port_range(value: object) -> tuple[int, int]:
    """`15000-16000` -> (15000, 16000), compared as numbers; ports 1-65535, first <= last."""
    match = _PORT_RANGE.match(str(value)) if isinstance(value, str) else None
    if not match:
        raise ValueError(f"expected a port range such as 15000-16000, got {value!r}")
    low, high = int(match.group(1)), int(match.group(2))
    if not (PORT_MIN <= low <= PORT_MAX and PORT_MIN <= high <= PORT_MAX):
        raise ValueError(f"ports must be {PORT_MIN}-{PORT_MAX}, got {value!r}")
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
