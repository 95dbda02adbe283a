"""Values as the original SYNTRAF accepted them: strings or numbers, K/M suffixes, booleans.

Every parser takes `where` (the section and key, e.g. `[[MESH_GROUP]] VOIP BANDWIDTH`) so an error names the
place in the user's file. Parsers return None for a value the original replaced by its default; the caller
decides the default and records a note.
"""

from __future__ import annotations

import re

from syntraf_probe.bounds import BOUNDS

_BANDWIDTH = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([kKmM]?)\s*$")
_PORT_RANGE = re.compile(r"^\s*(\d+)\s*-\s*(\d+)\s*$")
_MULTIPLIERS = {"": 1, "k": 1_000, "m": 1_000_000}


class ConfigImportError(ValueError):
    """A SYNTRAF config that cannot be imported; the message names the file, section and key."""


def bandwidth_bps(value: object, where: str) -> int:
    """`validate_bandwidth`: optional k/K (x1000) or m/M (x1e6) suffix, no suffix = bit/s."""
    match = _BANDWIDTH.match(str(value)) if isinstance(value, (str, int, float)) else None
    if match is None or isinstance(value, bool):
        raise ConfigImportError(
            f"{where}: {value!r} is not a bandwidth (a number of bit/s, optionally ending in K or M)"
        )
    bps = round(float(match.group(1)) * _MULTIPLIERS[match.group(2).lower()])
    if bps <= 0:
        raise ConfigImportError(
            f"{where}: {value!r} is zero, which iperf3 reads as 'unlimited'; give a real rate"
        )
    return bps


def format_bandwidth(bps: int) -> str | int:
    """The shortest exact spelling: "100k", "2m", or plain bit/s."""
    for suffix, factor in (("m", 1_000_000), ("k", 1_000)):
        if bps % factor == 0:
            return f"{bps // factor}{suffix}"
    return bps


def integer_in_range(value: object, low: int, high: int) -> int | None:
    """An integer (or string of digits) in [low, high]; None where the original fell back to a default."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value if isinstance(value, int) and low <= value <= high else None


def within_bound(value: object, key: str) -> int | None:
    """An integer within the probe's bound `key` (syntraf_probe.bounds); None where the original fell back."""
    bound = BOUNDS[key]
    return integer_in_range(value, int(bound.low), int(bound.high))


def number_in_range(value: object, low: float, high: float) -> float | None:
    """A float within [low, high] (the original's `float()` test for INTERVAL); None otherwise."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if low <= number <= high else None


def boolean(value: object, where: str) -> bool:
    """A TOML boolean. The original truth-tested strings, so "false" meant true: refuse rather than guess."""
    if not isinstance(value, bool):
        raise ConfigImportError(
            f'{where}: {value!r} is not true or false (the original took any non-empty value, even "false", '
            "as true); write a TOML boolean without quotes"
        )
    return value


def port_range(value: object, where: str) -> str:
    """ "LOW-HIGH", both 1-65535, LOW < HIGH, compared as numbers (the original compared strings)."""
    match = _PORT_RANGE.match(value) if isinstance(value, str) else None
    low, high = (int(match.group(1)), int(match.group(2))) if match else (0, 0)
    if not (1 <= low < high <= 65535):
        raise ConfigImportError(f'{where}: {value!r} is not a port range like "15000-16000"')
    return f"{low}-{high}"


def uid_list(value: object, where: str) -> list[str]:
    """A list of UIDs (MESH_GROUP_UID_LIST, the lists inside INCLUDE_ONLY/EXCLUDED tables)."""
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ConfigImportError(f'{where}: {value!r} is not a list of UIDs like ["LAB", "VoIP"]')
    return value


def uid_table(value: object, where: str) -> dict[str, list[str]]:
    """A table {GROUP = ["UID", ...]} (INCLUDE_ONLY_CLIENT_UID, EXCLUDED_CLIENT_UID)."""
    if not isinstance(value, dict):
        raise ConfigImportError(f'{where}: {value!r} is not a table like {{LAB = ["CENTOS8"]}}')
    return {key: uid_list(items, f"{where}.{key}") for key, items in value.items()}


def text(value: object, where: str) -> str:
    if not isinstance(value, (str, int)) or isinstance(value, bool) or str(value).strip() == "":
        raise ConfigImportError(f"{where}: {value!r} must be a non-empty string")
    return str(value).strip()
