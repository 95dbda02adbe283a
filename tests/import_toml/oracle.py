"""What the original SYNTRAF would have measured for a TOML config, written from the reference
(reference/syntraf-original.md §5.1-§5.4, §6.2-§6.4) independently of the importer: the tests compare
`syntraf-ctl plan` on the imported inventory against this.

Original defects are taken as fixed, as the importer promises: bandwidth from packets per second is in bits,
and PACKET_SIZE defaults to 32 bytes whether or not it was an int. Everything else is the original's rule.
"""

from __future__ import annotations

from itertools import combinations
from typing import NamedTuple

import tomllib


class Edge(NamedTuple):
    group: str
    src: str  # sender uid
    dst: str  # receiver uid
    bandwidth_bps: int
    packet_size: int
    dscp: int
    interval: float


def _bit_per_second(value: object) -> int:
    """validate_bandwidth: K = x1000, M = x1000000, else bit/s."""
    text = str(value).strip()
    factor = {"k": 1_000, "m": 1_000_000}.get(text[-1].lower(), 1)
    return round(float(text[:-1] if factor != 1 else text) * factor)


def _digits(value: object, low: int, high: int, default: int) -> int:
    """The original's `.isdigit()` and range test, with its fall back to the default."""
    text = str(value)
    return int(text) if text.isdigit() and low <= int(text) <= high else default


def _seconds(value: object) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except ValueError:
        return 1.0
    return number if 1 <= number <= 60 else 1.0


def traffic(group: dict, profiles: dict[str, dict]) -> tuple[int, int, int, float]:
    """(bandwidth bit/s, packet size, dscp, interval) of a [[MESH_GROUP]] (dev: the profile overwrites)."""
    settings = dict(group)
    settings.update({k: v for k, v in profiles.get(group.get("IPERF3_PROFILE"), {}).items() if k != "UID"})
    dscp = _digits(settings.get("DSCP", 0), 0, 63, 0)
    interval = _seconds(settings.get("INTERVAL", "1"))
    size = _digits(settings["PACKET_SIZE"], 16, 65507, 32) if "PACKET_SIZE" in settings else None
    pps = int(settings["PACKET_PER_SECOND"]) if "PACKET_PER_SECOND" in settings else None
    bandwidth = _bit_per_second(settings["BANDWIDTH"]) if "BANDWIDTH" in settings else None
    if pps and size:
        bandwidth = size * pps * 8
    elif bandwidth and pps and not size:
        size = int(bandwidth / 8 / pps)
    bandwidth = bandwidth or 100_000
    size = size or 32
    return bandwidth, size, dscp, interval


def _pair_kept(group: str, a: dict, b: dict) -> bool:
    """§5.2, including "any include-only table anywhere voids the exclusions"."""
    include_a, include_b = a.get("INCLUDE_ONLY_CLIENT_UID") or {}, b.get("INCLUDE_ONLY_CLIENT_UID") or {}
    if include_a or include_b:
        if group in include_a or group in include_b:
            return b["UID"] in include_a.get(group, []) or a["UID"] in include_b.get(group, [])
        return True
    exclude_a, exclude_b = a.get("EXCLUDED_CLIENT_UID", {}), b.get("EXCLUDED_CLIENT_UID", {})
    return b["UID"] not in exclude_a.get(group, []) and a["UID"] not in exclude_b.get(group, [])


def groups(toml_text: str) -> dict[str, bool]:
    """Every mesh group and whether it is disabled (dev's DISABLED)."""
    return {
        group["UID"]: bool(group.get("DISABLED")) for group in tomllib.loads(toml_text).get("MESH_GROUP", [])
    }


def measured_edges(toml_text: str) -> set[Edge]:
    config = tomllib.loads(toml_text)
    profiles = {p["UID"]: p for p in config.get("IPERF3_PROFILE", [])}
    nodes = config.get("SERVER_CLIENT", [])
    edges: set[Edge] = set()
    for group in config.get("MESH_GROUP", []):
        if group.get("DISABLED"):
            continue
        name = group["UID"]
        rates = traffic(group, profiles)
        members = [node for node in nodes if name in node.get("MESH_GROUP_UID_LIST", [])]
        for a, b in combinations(members, 2):
            if not _pair_kept(name, a, b) or (a.get("BEHIND_NAT") and b.get("BEHIND_NAT")):
                continue
            edges.add(Edge(name, a["UID"], b["UID"], *rates))
            edges.add(Edge(name, b["UID"], a["UID"], *rates))
    return edges
