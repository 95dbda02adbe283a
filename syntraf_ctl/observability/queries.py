"""The query of each dashboard panel, for each back end: PromQL (VictoriaMetrics, Prometheus) and InfluxQL
(InfluxDB 1.x, or 2.x with a DBRP mapping). Grafana substitutes `$__range`, `$__interval`, `$timeFilter` and
the dashboard variables (`$group`, `$src`, `$dst`, `$host`)."""

from __future__ import annotations

from typing import Protocol

from syntraf_ctl.observability import promql

HEALTH_FIELDS = (
    "edges_configured",
    "edges_measuring",
    "edges_outage",
    "edges_config_error",
    "edges_not_measuring",
    "spool_points",
    "dropped_points",
    "write_errors",
    "iperf3_restarts",
)


class Queries(Protocol):
    """What every back end answers; a matrix query returns one row per edge with a `src`, a `dst` and its
    value in `value_column(alias)`, where alias is loss_pct, jitter_ms or outage_s."""

    def value_column(self, alias: str) -> str: ...
    def matrix_loss(self, group: str) -> str: ...
    def matrix_jitter(self, group: str) -> str: ...
    def matrix_outage(self, group: str, interval: float) -> str: ...
    def loss(self, **labels: str) -> str: ...
    def jitter(self, **labels: str) -> str: ...
    def bitrate(self, **labels: str) -> str: ...
    def up(self, **labels: str) -> str: ...
    def health(self, field: str) -> str: ...
    def tag_values(self, tag: str, **labels: str) -> str: ...
    # the echo (syntraf_voice, groups with `echo`): round trip, call quality, DSCP remarking
    def matrix_mos(self, group: str) -> str: ...
    def rtt(self, **labels: str) -> str: ...
    def mos(self, **labels: str) -> str: ...
    def remarked(self, **labels: str) -> str: ...


class PromQL:
    def value_column(self, alias: str) -> str:
        """The column Grafana gives an instant query's values in table format."""
        return "Value"

    def matrix_loss(self, group: str) -> str:
        return promql.loss_pct("$__range", "src, dst", group=group)

    def matrix_jitter(self, group: str) -> str:
        return promql.jitter_p95("$__range", "src, dst", group=group)

    def matrix_outage(self, group: str, interval: float) -> str:
        return promql.outage_s("$__range", interval, "src, dst", group=group)

    def loss(self, **labels: str) -> str:
        return promql.loss_pct("$__interval", "src, dst", **labels)

    def jitter(self, **labels: str) -> str:
        return f"max by (src, dst) (max_over_time({promql.selector('jitter_ms', **labels)}[$__interval]))"

    def bitrate(self, **labels: str) -> str:
        return promql.bitrate("$__interval", "src, dst", **labels)

    def up(self, **labels: str) -> str:
        return f"min by (src, dst) (min_over_time({promql.selector('up', **labels)}[$__interval]))"

    def health(self, field: str) -> str:
        return promql.probe_field(field, group="~$group")

    def tag_values(self, tag: str, **labels: str) -> str:
        return f"label_values({promql.selector('up', **labels)}, {tag})"

    def matrix_mos(self, group: str) -> str:
        return promql.mos_mean("$__range", "src, dst", group=group)

    def rtt(self, **labels: str) -> str:
        rtt = promql.selector("voice_rtt_mean_ms", **labels)
        return f"avg by (src, dst) (avg_over_time({rtt}[$__interval]))"

    def mos(self, **labels: str) -> str:
        return f"min by (src, dst) (min_over_time({promql.selector('voice_mos', **labels)}[$__interval]))"

    def remarked(self, **labels: str) -> str:
        return promql.remarked_max("$__interval", "src, dst", **labels)


class InfluxQL:
    def value_column(self, alias: str) -> str:
        """Each matrix query names its value (AS "loss_pct"...)."""
        return alias

    def matrix_loss(self, group: str) -> str:
        return _select('100 * sum("lost") / sum("packets") AS "loss_pct"', group=group)

    def matrix_jitter(self, group: str) -> str:
        return _select('percentile("jitter_ms", 95) AS "jitter_ms"', group=group)

    def matrix_outage(self, group: str, interval: float) -> str:
        return _select(f'{interval:g} * (count("up") - sum("up")) AS "outage_s"', group=group)

    def loss(self, **labels: str) -> str:
        return _select('100 * sum("lost") / sum("packets") AS "loss_pct"', "time($__interval), ", **labels)

    def jitter(self, **labels: str) -> str:
        return _select('max("jitter_ms") AS "jitter_ms"', "time($__interval), ", **labels)

    def bitrate(self, **labels: str) -> str:
        return _select('mean("bitrate_bps") AS "bitrate_bps"', "time($__interval), ", **labels)

    def up(self, **labels: str) -> str:
        return _select('min("up") AS "up"', "time($__interval), ", **labels)

    def health(self, field: str) -> str:
        return (
            f'SELECT last("{field}") AS "{field}" FROM "syntraf_probe" WHERE "group" =~ /^$group$/ '
            'AND time > now() - 2m GROUP BY "host", "group"'
        )

    def tag_values(self, tag: str, **labels: str) -> str:
        return f'SHOW TAG VALUES FROM "syntraf" WITH KEY = "{tag}"{_where(labels, " WHERE ")}'

    def matrix_mos(self, group: str) -> str:
        return _select('mean("mos") AS "mos"', measurement=VOICE, group=group)

    def rtt(self, **labels: str) -> str:
        return _select('mean("rtt_mean_ms") AS "rtt_ms"', "time($__interval), ", VOICE, **labels)

    def mos(self, **labels: str) -> str:
        return _select('min("mos") AS "mos"', "time($__interval), ", VOICE, **labels)

    def remarked(self, **labels: str) -> str:
        return _select('max("remarked_pct") AS "remarked_pct"', "time($__interval), ", VOICE, **labels)


VOICE = "syntraf_voice"


def _select(fields: str, by_time: str = "", measurement: str = "syntraf", **labels: str) -> str:
    return (
        f'SELECT {fields} FROM "{measurement}" WHERE {_where(labels, "")}$timeFilter '
        f'GROUP BY {by_time}"src", "dst"'
    )


def _where(labels: dict[str, str], lead: str) -> str:
    """`"tag" = 'value' AND ...` (values from the plan or Grafana variables), with `lead` before it."""
    if not labels:
        return ""
    clauses = " AND ".join(f"\"{key}\" = '{value}'" for key, value in sorted(labels.items()))
    return f"{lead}{clauses}" + ("" if lead else " AND ")
