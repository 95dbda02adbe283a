"""Alert thresholds per mesh group: `alerts:` in a group's settings over defaults by DSCP class."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from syntraf_ctl.model import Model
from syntraf_ctl.problems import Problem
from syntraf_ctl.variables import Vars

EF = 46
KEYS = ("loss_pct", "jitter_ms", "for", "window", "mos")
_DURATION = re.compile(r"^\s*(\d+)\s*([smh])\s*$")
_SECONDS = {"s": 1, "m": 60, "h": 3600}
MAX_DURATION_S = 86400
MIN_WINDOW_S = 30  # a probe writes health at least every 10 s: a silent probe is told from a slow one


@dataclass(frozen=True)
class Thresholds:
    """One group's alert settings: loss and jitter limits, how long a breach lasts, the evaluation window."""

    loss_pct: float
    jitter_ms: float
    for_s: int
    window_s: int
    mos: float  # the echo's mean MOS below which a path alerts (groups with `echo`)


# Voice (EF) tolerates far less loss and jitter than bulk classes (ITU-T G.114/G.1020 orders of magnitude).
# MOS 3.6 is R 70 and MOS 3.1 is R 60 (G.107 Annex B): "some" and "many users dissatisfied" (G.109).
DEFAULTS = {
    "ef": Thresholds(loss_pct=1.0, jitter_ms=30.0, for_s=300, window_s=300, mos=3.6),
    "other": Thresholds(loss_pct=5.0, jitter_ms=100.0, for_s=300, window_s=300, mos=3.1),
}


def default_for(dscp: int) -> Thresholds:
    return DEFAULTS["ef" if dscp == EF else "other"]


def duration(seconds: int) -> str:
    """Seconds as a Prometheus duration in the largest exact unit: 300 -> 5m."""
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _parse_duration(value: object) -> int:
    match = _DURATION.match(value) if isinstance(value, str) else None
    seconds = int(match.group(1)) * _SECONDS[match.group(2)] if match else 0
    if not 1 <= seconds <= MAX_DURATION_S:
        raise ValueError(f"expected a duration like 30s, 5m or 1h (at most 24h), got {value!r}")
    return seconds


def _parse_limit(value: object, low_open: float, high: float, unit: str) -> float:
    number = value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    if number is None or not math.isfinite(number) or not low_open < number <= high:
        raise ValueError(f"expected a number above {low_open:g} and at most {high:g} {unit}, got {value!r}")
    return float(number)


_PARSERS: dict[str, Any] = {
    "loss_pct": lambda v: _parse_limit(v, 0, 100, "%"),
    "jitter_ms": lambda v: _parse_limit(v, 0, 60_000, "ms"),
    "for": _parse_duration,
    "window": _parse_duration,
    "mos": lambda v: _parse_limit(v, 1, 4.5, "(MOS)"),
}


def group_thresholds(model: Model, scope: Vars) -> tuple[dict[str, Thresholds], list[Problem]]:
    """Thresholds of every enabled group and every problem of their `alerts:` settings (file, group, key)."""
    specs = scope.values.get("syntraf_mesh_groups") or {}
    result: dict[str, Thresholds] = {}
    problems: list[Problem] = []
    for name in sorted(model.groups):
        group = model.groups[name]
        if group.disabled:
            continue
        path = f"syntraf_mesh_groups.{name}.alerts"
        spec = (specs.get(name) or {}).get("alerts") or {}

        def add(key: str, message: str, path: str = path, name: str = name) -> None:
            full = f"{path}.{key}" if key else path
            problems.append(Problem(scope.origin(full), f"mesh group {name}", full, message))

        if not isinstance(spec, dict):
            add("", f"expected a mapping of {', '.join(KEYS)}, got {spec!r}")
            continue
        values = dict(zip(KEYS, _fields(default_for(group.traffic.dscp))))
        for key in sorted(spec):
            if key not in _PARSERS:
                add(str(key), f"unknown setting (known: {', '.join(KEYS)})")
                continue
            try:
                values[key] = _PARSERS[key](spec[key])
            except ValueError as error:
                add(key, str(error))
        shortest = max(2 * group.traffic.interval, MIN_WINDOW_S)
        if values["window"] < shortest:
            add("window", f"must be at least {shortest:g} s (two intervals of the group, and 30 s)")
        result[name] = Thresholds(
            values["loss_pct"], values["jitter_ms"], values["for"], values["window"], values["mos"]
        )
    return result, problems


def _fields(thresholds: Thresholds) -> tuple[float, float, int, int, float]:
    return thresholds.loss_pct, thresholds.jitter_ms, thresholds.for_s, thresholds.window_s, thresholds.mos
