"""The WAN lab's settings as the user writes them (pure): sites (`a:2,b:2`), and impairments of the links
between sites (`a-b delay=40ms jitter=2ms loss=0.5%`), parsed into typed values and back into text.

A link is one direction between two sites, named `a>b` (traffic from site a to site b); `a-b` in a
specification means both directions.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields, replace

from syntraf_ctl.lab.errors import LabError

SITE_NAME = re.compile(r"[a-z][a-z0-9]{0,7}")
MAX_SITES = 250  # the site index is the third octet of its addresses

# DSCP names accepted by `remark=` (besides numbers 0-63).
DSCP_NAMES = {"ef": 46, **{f"cs{i}": 8 * i for i in range(8)}}
DSCP_NAMES.update({f"af{c}{d}": 8 * c + 2 * d for c in range(1, 5) for d in range(1, 4)})


@dataclass(frozen=True)
class Impairment:
    """What one link does to what crosses it. Loss, bursts, duplication and reordering apply to UDP
    datagrams with a payload of at least `DATA_MIN_PAYLOAD` bytes (the measured traffic); delay, jitter,
    hold, blackhole and remarking apply to every packet (iperf3's TCP control connection included)."""

    delay_ms: float = 0.0  # one-way
    jitter_ms: float = 0.0  # delay drawn uniformly in delay ± jitter; a flow keeps its order
    loss_pct: float = 0.0  # independent random loss
    burst_pct: float = 0.0  # Gilbert-Elliott: chance per datagram that a loss burst starts
    burst_len: float = 1.0  # mean datagrams lost per burst (each next one ends it with 1/burst_len)
    dup_pct: float = 0.0  # datagrams sent twice
    reorder_pct: float = 0.0  # datagrams that leave right after the next one of their flow
    hold: bool = False  # queue everything (a stall); released in order when hold ends: no loss
    blackhole: bool = False  # drop everything
    remark: tuple[int, int] | None = None  # (from DSCP, to DSCP)

    def text(self) -> str:
        """The settings that differ from a clean link, in the specification syntax."""
        clean = Impairment()
        words = []
        for item in fields(self):
            value = getattr(self, item.name)
            if value == getattr(clean, item.name):
                continue
            key, kind = KEYS_BY_FIELD[item.name]
            words.append(f"{key}={_format(value, kind)}")
        return " ".join(words) or "clean"

    def as_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> Impairment:
        remark = data.get("remark")
        return cls(**{**data, "remark": tuple(remark) if remark else None})


# spec key -> (Impairment field, kind)
KEYS = {
    "delay": ("delay_ms", "ms"),
    "jitter": ("jitter_ms", "ms"),
    "loss": ("loss_pct", "pct"),
    "burst": ("burst_pct", "pct"),
    "burst_len": ("burst_len", "count"),
    "dup": ("dup_pct", "pct"),
    "reorder": ("reorder_pct", "pct"),
    "hold": ("hold", "switch"),
    "blackhole": ("blackhole", "switch"),
    "remark": ("remark", "remark"),
}
KEYS_BY_FIELD = {name: (key, kind) for key, (name, kind) in KEYS.items()}


def parse_sites(text: str) -> dict[str, int]:
    """`a:2,b:2,c:1` -> {"a": 2, "b": 2, "c": 1} (site -> number of hosts), in the order given."""
    sites: dict[str, int] = {}
    for item in text.split(","):
        name, _, count = item.strip().partition(":")
        if not SITE_NAME.fullmatch(name) or not count.isdigit() or int(count) < 1:
            raise LabError(f"--sites {text!r}: expected NAME:HOSTS,... (e.g. a:2,b:2), got {item!r}")
        if name in sites:
            raise LabError(f"--sites {text!r}: site {name} is given twice")
        sites[name] = int(count)
    if not 2 <= len(sites) <= MAX_SITES:
        raise LabError(f"--sites {text!r}: a WAN lab has 2 to {MAX_SITES} sites")
    return sites


def parse_link_names(text: str, sites: list[str]) -> list[str]:
    """`a-b` -> ["a>b", "b>a"]; `a>b` -> ["a>b"]; `all` -> every link between the sites."""
    if text == "all":
        return [f"{a}>{b}" for a in sites for b in sites if a != b]
    match = re.fullmatch(r"([a-z0-9]+)([->])([a-z0-9]+)", text)
    if not match:
        raise LabError(f"link {text!r}: expected SITE-SITE (both directions), SITE>SITE or all")
    a, arrow, b = match.groups()
    for site in (a, b):
        if site not in sites:
            raise LabError(f"link {text!r}: no site {site} (sites: {', '.join(sites)})")
    if a == b:
        raise LabError(f"link {text!r}: a link joins two different sites")
    return [f"{a}>{b}"] if arrow == ">" else [f"{a}>{b}", f"{b}>{a}"]


def parse_changes(words: list[str]) -> dict[str, object]:
    """`["delay=40ms", "loss=0.5%"]` -> {"delay_ms": 40.0, "loss_pct": 0.5}; `clean` resets every setting."""
    changes: dict[str, object] = {}
    for word in words:
        if word == "clean":
            changes.update(asdict(Impairment()))
            continue
        key, _, value = word.partition("=")
        if key not in KEYS or not value:
            raise LabError(f"impairment {word!r}: expected KEY=VALUE with KEY one of {', '.join(KEYS)}")
        name, kind = KEYS[key]
        changes[name] = _parse_value(key, value, kind)
    return changes


def parse_wan(specs: list[str], sites: list[str]) -> dict[str, Impairment]:
    """`--wan` values (`LINK KEY=VALUE ...`, several per value separated by `;`) -> link -> impairment."""
    links = {name: Impairment() for name in parse_link_names("all", sites)}
    for spec in specs:
        for part in filter(None, (item.strip() for item in spec.split(";"))):
            link, *words = part.split()
            changes = parse_changes(words)
            for name in parse_link_names(link, sites):
                links[name] = apply_changes(links[name], changes)
    return links


def apply_changes(impairment: Impairment, changes: dict[str, object]) -> Impairment:
    if changes.get("remark"):  # a list, when it came as JSON
        changes = {**changes, "remark": tuple(changes["remark"])}
    result = replace(impairment, **changes)
    if result.jitter_ms > result.delay_ms:
        raise LabError(f"jitter {result.jitter_ms:g} ms is larger than the delay {result.delay_ms:g} ms")
    return result


def _parse_value(key: str, value: str, kind: str) -> object:
    try:
        if kind == "ms":
            match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s)", value)
            if not match:
                raise ValueError("a duration such as 40ms or 0.3s")
            milliseconds = float(match.group(1)) * (1000 if match.group(2) == "s" else 1)
            if milliseconds > 10_000:
                raise ValueError("at most 10 s")
            return milliseconds
        if kind == "pct":
            if not value.endswith("%") or not 0 <= float(value[:-1]) <= 100:
                raise ValueError("a percentage such as 0.5%")
            return float(value[:-1])
        if kind == "count":
            if float(value) < 1:
                raise ValueError("a number of datagrams, at least 1")
            return float(value)
        if kind == "switch":
            if value not in ("on", "off"):
                raise ValueError("on or off")
            return value == "on"
        if value == "off":
            return None
        source, _, target = value.partition(":")
        return (_parse_dscp(source), _parse_dscp(target))
    except ValueError as error:
        raise LabError(f"impairment {key}={value}: expected {error}") from None


def _parse_dscp(text: str) -> int:
    if text in DSCP_NAMES:
        return DSCP_NAMES[text]
    if text.isdigit() and int(text) < 64:
        return int(text)
    raise ValueError("FROM:TO DSCP values (0-63 or ef, csN, afXY), or off")


def _format(value: object, kind: str) -> str:
    if kind == "ms":
        return f"{value:g}ms"
    if kind == "pct":
        return f"{value:g}%"
    if kind == "switch":
        return "on" if value else "off"
    if kind == "remark":
        return f"{value[0]}:{value[1]}"
    return f"{value:g}"
