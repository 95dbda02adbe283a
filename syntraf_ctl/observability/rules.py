"""Prometheus/vmalert rule files: 1-minute downsampling (recording rules) and per-group alerts.

Every alert expression reads raw series only: vmalert writes recording results through remote write, so a
rule reading another rule's result in the same evaluation would see stale data.
"""

from __future__ import annotations

from typing import Any

from syntraf_ctl.model import MeshGroup
from syntraf_ctl.observability import promql
from syntraf_ctl.observability.thresholds import Thresholds, duration

EDGE_DSCP = "group, src, dst, dscp"
MIN_EVERY_S, MAX_EVERY_S = 10, 30  # alert evaluation: Grafana wants multiples of 10 s; 30 s keeps load low
DRIFT_FOR = "10m"  # a rolling apply reaches hosts one after the other


def recording_group() -> dict[str, Any]:
    """Sums stay sums: the loss of any window of the 1-minute series is Σlost/Σpackets of the raw points."""
    one = "1m"
    records = [
        ("syntraf:lost:sum1m", f"sum by ({EDGE_DSCP}) (sum_over_time(syntraf_lost[{one}]))"),
        ("syntraf:packets:sum1m", f"sum by ({EDGE_DSCP}) (sum_over_time(syntraf_packets[{one}]))"),
        ("syntraf:points:count1m", f"sum by ({EDGE_DSCP}) (count_over_time(syntraf_up[{one}]))"),
        ("syntraf:up:sum1m", f"sum by ({EDGE_DSCP}) (sum_over_time(syntraf_up[{one}]))"),
        ("syntraf:up:min1m", f"min by ({EDGE_DSCP}) (min_over_time(syntraf_up[{one}]))"),
        ("syntraf:jitter_ms:max1m", f"max by ({EDGE_DSCP}) (max_over_time(syntraf_jitter_ms[{one}]))"),
        (
            "syntraf:jitter_ms:p95_1m",
            f"max by ({EDGE_DSCP}) (quantile_over_time(0.95, syntraf_jitter_ms[{one}]))",
        ),
        ("syntraf:bitrate_bps:avg1m", f"avg by ({EDGE_DSCP}) (avg_over_time(syntraf_bitrate_bps[{one}]))"),
    ]
    return {"name": "syntraf-downsample-1m", "interval": one, "rules": [_record(n, e) for n, e in records]}


def alert_group(group: MeshGroup, limits: Thresholds, planned: dict[tuple[str, str], str]) -> dict[str, Any]:
    """Path, host, probe-absent, config-drift and dropped-point alerts of one mesh group (summaries use only
    $labels, which vmalert, Prometheus and Grafana template alike)."""
    name, window, wait = group.name, duration(limits.window_s), duration(limits.for_s)
    loss = promql.loss_pct(window, group=name)
    jitter = promql.jitter_p95(window, group=name)
    host = _host_trouble(loss, limits.loss_pct)
    # A host's own alert replaces those of its edges (MaDDash's "a whole column red").
    into, out = _copy_label(host, "host", "dst"), _copy_label(host, "host", "src")
    suppressed = f"unless on (group, dst) ({into}) unless on (group, src) ({out})"
    labels = {"syntraf_group": name}
    rules = [
        _alert(
            "SyntrafHostLoss",
            host,
            wait,
            {**labels, "severity": "critical"},
            f"most peers of {{{{ $labels.host }}}} lose over {limits.loss_pct:g}% towards it or from it"
            f" in {name}",
        ),
        _alert(
            "SyntrafPathLoss",
            f"({loss} > {limits.loss_pct:g}) {suppressed}",
            wait,
            {**labels, "severity": "warning"},
            f"{{{{ $labels.src }}}} -> {{{{ $labels.dst }}}} loses over {limits.loss_pct:g}%"
            f" over {window} in {name}",
        ),
        _alert(
            "SyntrafPathJitter",
            f"({jitter} > {limits.jitter_ms:g}) {suppressed}",
            wait,
            {**labels, "severity": "warning"},
            f"{{{{ $labels.src }}}} -> {{{{ $labels.dst }}}} jitter p95 over {limits.jitter_ms:g} ms"
            f" over {window} in {name}",
        ),
        _alert(
            "SyntrafProbeAbsent",
            promql.probe_absent([(uid, name) for uid in group.members], window),
            wait,
            {**labels, "severity": "critical"},
            f"no health point from the probe of {{{{ $labels.host }}}} in {name} for {window}: the probe is"
            " down, not the network",
        ),
        _alert(
            "SyntrafConfigDrift",
            promql.drift({key: rev for key, rev in planned.items() if key[1] == name}),
            DRIFT_FOR,
            {**labels, "severity": "warning"},
            f"the probe of {{{{ $labels.host }}}} in {name} runs revision {{{{ $labels.revision }}}},"
            " not the planned one",
        ),
        _alert(
            "SyntrafDroppedPoints",
            f'max by (host, group) (increase(syntraf_probe_dropped_points{{group="{name}"}}[{window}])) > 0',
            "0s",
            {**labels, "severity": "warning"},
            f"the probe of {{{{ $labels.host }}}} in {name} lost measurements for good (spool full or"
            " refused writes)",
        ),
    ]
    rules += voice_alerts(group, limits)
    return {"name": f"syntraf-alerts-{name}", "interval": evaluation_interval(limits), "rules": rules}


def evaluation_interval(limits: Thresholds) -> str:
    """At least as often as `for` (a shorter `for` would act as one interval), 10 s to 30 s."""
    return duration(min(MAX_EVERY_S, max(MIN_EVERY_S, limits.for_s)))


def voice_alerts(group: MeshGroup, limits: Thresholds) -> list[dict[str, Any]]:
    """From the echo (groups with `echo` only): a path whose mean MOS over the window is below the group's
    limit, and a path whose packets arrive with another DSCP than sent (any share above 0)."""
    if group.echo is None:
        return []
    name, window, wait = group.name, duration(limits.window_s), duration(limits.for_s)
    labels = {"syntraf_group": name, "severity": "warning"}
    return [
        _alert(
            "SyntrafPathMOS",
            f"{promql.mos_mean(window, group=name)} < {limits.mos:g}",
            wait,
            labels,
            f"{{{{ $labels.src }}}} -> {{{{ $labels.dst }}}} mean MOS below {limits.mos:g} over {window}"
            f" in {name}",
        ),
        _alert(
            "SyntrafDscpRemarked",
            f"{promql.remarked_max(window, EDGE_DSCP, group=name)} > 0",
            wait,
            labels,
            f"{{{{ $labels.src }}}} -> {{{{ $labels.dst }}}} arrives with another DSCP than"
            f" {{{{ $labels.dscp }}}} (remarked on the path) in {name}",
        ),
    ]


def _host_trouble(loss: str, limit: float) -> str:
    """{group, host} for each host where more than half of the edges into it, or from it, exceed `limit`
    (an outage is 100 % loss): one series per host, whichever side is broken."""
    sides = [
        _copy_label(
            f"count by (group, {side}) ({loss} > {limit:g}) > 0.5 * count by (group, {side}) ({loss})",
            side,
            "host",
        )
        for side in ("dst", "src")
    ]
    return f"max by (group, host) ({sides[0]} or {sides[1]})"


def _copy_label(expr: str, source: str, target: str) -> str:
    return f'label_replace({expr}, "{target}", "$1", "{source}", "(.*)")'


def _record(name: str, expr: str) -> dict[str, Any]:
    return {"record": name, "expr": expr}


def _alert(name: str, expr: str, wait: str, labels: dict[str, str], summary: str) -> dict[str, Any]:
    return {"alert": name, "expr": expr, "for": wait, "labels": labels, "annotations": {"summary": summary}}
