"""The alerts of rules.alert_group as Grafana-managed rules on the InfluxQL data source (InfluxDB 1.x, or 2.x
with a DBRP mapping), for users without a Prometheus-compatible store: same thresholds, `for`, labels.

InfluxQL has no join and no comparison in a SELECT, so the host rule's "more than half of a host's edges"
is a bad share per host computed in InfluxQL (an edge is bad when ceil((loss - limit) / 200) is 1: loss and
limit are within 0..100, so the ceiling is 1 above the limit and 0 at or below it, exactly), and the edge
suppression is Grafana math joining each edge with the shares of its receiver and sender. What cannot be
expressed this way is in docs/observability.md."""

from __future__ import annotations

from typing import Any

from syntraf_ctl.model import MeshGroup
from syntraf_ctl.observability import grafana_alerts as grafana
from syntraf_ctl.observability.queries import VOICE, InfluxQL
from syntraf_ctl.observability.rules import DRIFT_FOR, evaluation_interval
from syntraf_ctl.observability.thresholds import Thresholds, duration

MAJORITY = 0.5  # a host is in trouble when more than this share of its edges (in, or out) is over the limit
DRIFT_LOOKBACK_S = 120  # the revision a probe reported within the last 2 minutes (as promql.drift)
_Q = InfluxQL()


def edge_loss(group: str) -> str:
    """Loss % of each edge (Σlost/Σpackets over $timeFilter): the matrix cell's query."""
    return _Q.matrix_loss(group)


def bad_share(group: str, limit: float, side: str) -> str:
    """For each host on `side` (dst: edges into it, src: edges from it), the share of its edges over
    `limit` % loss."""
    bad = f'SELECT ceil(("loss_pct" - {limit:g}) / 200) AS "bad" FROM ({edge_loss(group)})'
    return f'SELECT mean("bad") AS "bad_share" FROM ({bad}) GROUP BY "{side}"'


def probe_points(group: str, host: str) -> str:
    """The health points of one planned probe (none: the probe is absent)."""
    return (
        f'SELECT count("edges_configured") AS "points" FROM "syntraf_probe" WHERE "group" = \'{group}\''
        f" AND \"host\" = '{host}' AND $timeFilter"
    )


def drift(group: str, planned: dict[str, str]) -> str:
    """Probes of `group` reporting a revision other than the one planned for their host (host -> revision)."""
    other = " OR ".join(
        f"(\"host\" = '{host}' AND \"revision\" != '{rev}')" for host, rev in sorted(planned.items())
    )
    return (
        'SELECT last("edges_configured") AS "edges_configured" FROM "syntraf_probe"'
        f' WHERE "group" = \'{group}\' AND ({other}) AND $timeFilter GROUP BY "host", "revision"'
    )


def dropped(group: str) -> str:
    """Points each probe dropped for good within $timeFilter (its counter's increase; a restart resets it)."""
    steps = (
        'SELECT non_negative_difference("dropped_points") AS "step" FROM "syntraf_probe"'
        f' WHERE "group" = \'{group}\' AND $timeFilter GROUP BY "host"'
    )
    return f'SELECT sum("step") AS "dropped" FROM ({steps}) GROUP BY "host"'


def remarked(group: str) -> str:
    return (
        f'SELECT max("remarked_pct") AS "remarked_pct" FROM "{VOICE}" WHERE "group" = \'{group}\''
        ' AND $timeFilter GROUP BY "src", "dst", "dscp"'
    )


def alert_group(
    group: MeshGroup, limits: Thresholds, planned: dict[tuple[str, str], str], uid: str
) -> dict[str, Any]:
    """The Grafana rule group of one mesh group (planned: (host, group) -> revision)."""
    name, window, wait = group.name, limits.window_s, duration(limits.for_s)

    def influxql(ref: str, text: str, seconds: int = window) -> dict[str, Any]:
        return grafana.query(
            ref, uid, seconds, {"query": text, "rawQuery": True, "resultFormat": "time_series"}
        )

    def alert(severity: str, summary: str, wait: str = wait, **labels: str) -> dict[str, Any]:
        labels = {"syntraf_group": name, "severity": severity, **labels}
        return {"for": wait, "labels": labels, "annotations": {"summary": summary}}

    def rule(title: str, data: list[dict[str, Any]], meta: dict[str, Any], no_data: str = "OK") -> dict:
        return grafana.rule(name, title, data, meta, no_data)

    def single(text: str, comparison: str, value: float, seconds: int = window) -> list[dict[str, Any]]:
        """One query, each series' last value compared with `value`."""
        return [
            influxql("A", text, seconds),
            grafana.reduce("B", "A"),
            grafana.threshold("C", "B", comparison, value),
        ]

    def unless_host(text: str, limit: float) -> list[dict[str, Any]]:
        """An edge value over `limit`, unless its receiver's or its sender's host rule holds."""
        return [
            influxql("A", text),
            influxql("I", bad_share(name, limits.loss_pct, "dst")),
            influxql("O", bad_share(name, limits.loss_pct, "src")),
            *(grafana.reduce(f"R{ref}", ref) for ref in "AIO"),
            grafana.math("M", f"$RA > {limit:g} && $RI <= {MAJORITY:g} && $RO <= {MAJORITY:g}"),
            grafana.threshold("C", "M", "gt", 0),
        ]

    loss, jitter = f"{limits.loss_pct:g}%", f"{limits.jitter_ms:g} ms"
    rules = [
        rule(
            f"SyntrafHostLoss{side.title()}",
            single(bad_share(name, limits.loss_pct, tag), "gt", MAJORITY),
            alert(
                "critical",
                f"most peers of {{{{ $labels.{tag} }}}} lose over {loss} {side} it in {name}",
            ),
        )
        for side, tag in (("into", "dst"), ("from", "src"))
    ]
    rules += [
        rule(
            "SyntrafPathLoss",
            unless_host(edge_loss(name), limits.loss_pct),
            alert("warning", f"{{{{ $labels.src }}}} -> {{{{ $labels.dst }}}} loses over {loss} in {name}"),
        ),
        rule(
            "SyntrafPathJitter",
            unless_host(_Q.matrix_jitter(name), limits.jitter_ms),
            alert(
                "warning",
                f"{{{{ $labels.src }}}} -> {{{{ $labels.dst }}}} jitter p95 over {jitter} in {name}",
            ),
        ),
    ]
    # Grafana alerts on a query's absence only as "no data": one rule per planned probe, naming its host.
    rules += [
        rule(
            f"SyntrafProbeAbsent {host}",
            single(probe_points(name, host), "lt", 1),
            alert(
                "critical",
                f"no health point from the probe of {host} in {name} for {duration(window)}: the probe is"
                " down, not the network",
                host=host,
            ),
            no_data="Alerting",
        )
        for host in sorted(map(str, group.members))
    ]
    revisions = {host: rev for (host, group_name), rev in planned.items() if group_name == name}
    if revisions:
        rules.append(
            rule(
                "SyntrafConfigDrift",
                single(drift(name, revisions), "gt", -1, DRIFT_LOOKBACK_S),
                alert(
                    "warning",
                    f"the probe of {{{{ $labels.host }}}} in {name} runs revision {{{{ $labels.revision }}}},"
                    " not the planned one",
                    wait=DRIFT_FOR,
                ),
            )
        )
    rules.append(
        rule(
            "SyntrafDroppedPoints",
            single(dropped(name), "gt", 0),
            alert(
                "warning",
                f"the probe of {{{{ $labels.host }}}} in {name} lost measurements for good (spool full or"
                " refused writes)",
                wait="0s",
            ),
        )
    )
    if group.echo is not None:
        rules += [
            rule(
                "SyntrafPathMOS",
                single(_Q.matrix_mos(name), "lt", limits.mos),
                alert(
                    "warning",
                    f"{{{{ $labels.src }}}} -> {{{{ $labels.dst }}}} mean MOS below {limits.mos:g} in {name}",
                ),
            ),
            rule(
                "SyntrafDscpRemarked",
                single(remarked(name), "gt", 0),
                alert(
                    "warning",
                    f"{{{{ $labels.src }}}} -> {{{{ $labels.dst }}}} arrives with another DSCP than"
                    f" {{{{ $labels.dscp }}}} (remarked on the path) in {name}",
                ),
            ),
        ]
    return {"name": f"syntraf-alerts-{name}", "interval": evaluation_interval(limits), "rules": rules}
