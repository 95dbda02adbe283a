"""Grafana dashboards, built with grafana-foundation-sdk: a mesh matrix per group, a pair explorer, a host
view and a probe-health view, for one back end (its queries and its data source)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import prometheus, table, timeseries
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import runtime
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

from syntraf_ctl.model import MeshGroup
from syntraf_ctl.observability.queries import HEALTH_FIELDS, InfluxQL, PromQL, Queries
from syntraf_ctl.observability.thresholds import Thresholds

WIDTH = 24
MAX_UID = 40
UNITS = {"loss_pct": "percent", "jitter_ms": "ms", "outage_s": "s", "mos": "none"}


@dataclass(frozen=True)
class Backend:
    name: str  # "prometheus" or "influxql": the folder, and part of every uid
    datasource: model.DataSourceRef
    queries: Queries


def backends(datasource_uids: dict[str, str]) -> list[Backend]:
    """The back ends whose data source is provisioned (name -> data source uid)."""
    known = {"prometheus": ("prometheus", PromQL()), "influxql": ("influxdb", InfluxQL())}
    return [
        Backend(name, model.DataSourceRef(type_val=known[name][0], uid=uid), known[name][1])
        for name, uid in sorted(datasource_uids.items())
    ]


class _InfluxQLQuery(cogbuilder.Builder[Any]):
    """A raw InfluxQL target: the SDK has no InfluxDB query model, so it is kept as the SDK's UnknownDataquery
    (what the SDK itself parses InfluxDB targets into)."""

    def __init__(self, ref_id: str, query: str, table_format: bool, datasource: model.DataSourceRef) -> None:
        self._internal = runtime.UnknownDataquery(
            {
                "refId": ref_id,
                "datasource": datasource.to_json(),
                "rawQuery": True,
                "query": query,
                "resultFormat": "table" if table_format else "time_series",
                "alias": "$tag_src -> $tag_dst",
            }
        )

    def build(self) -> Any:
        return self._internal


def uid(backend: Backend, kind: str, group: str = "") -> str:
    """Dashboard uids: Grafana allows 40 characters and group names have up to 50, so a long one is cut and
    told apart from others with the same beginning by a digest of the whole name."""
    full = "-".join(part for part in ("syntraf", backend.name[:4], kind, group) if part)
    if len(full) <= MAX_UID:
        return full
    return f"{full[: MAX_UID - 9]}-{hashlib.sha256(full.encode()).hexdigest()[:8]}"


def _target(backend: Backend, ref_id: str, query: str, instant: bool, legend: str = "{{src}} -> {{dst}}"):
    if backend.name == "influxql":
        return _InfluxQLQuery(ref_id, query, instant, backend.datasource)
    target = prometheus.Dataquery().ref_id(ref_id).expr(query).datasource(backend.datasource)
    if instant:
        return target.instant().format(PromQueryFormat.TABLE)
    return target.range().legend_format(legend)


def _thresholds(red_at: float) -> db.ThresholdsConfig:
    steps = [model.Threshold(value=None, color="green"), model.Threshold(value=red_at, color="red")]
    return db.ThresholdsConfig().mode(model.ThresholdsMode.ABSOLUTE).steps(steps)


def _matrix(backend: Backend, panel_id: int, title: str, query: str, alias: str, red_at: float, link: str):
    """A source x destination table: one row per sender, one column per receiver, cells coloured."""
    value = backend.queries.value_column(alias)
    grouping = model.DataTransformerConfig(
        id_val="groupingToMatrix", options={"rowField": "src", "columnField": "dst", "valueField": value}
    )
    return (
        table.Panel()
        .id(panel_id)
        .title(title)
        .datasource(backend.datasource)
        .with_target(_target(backend, "A", query, instant=True))
        .with_transformation(grouping)
        .unit(UNITS[alias])
        .decimals(2)
        .thresholds(_thresholds(red_at))
        .cell_options(common.TableColoredBackgroundCellOptions())
        .data_links([db.DashboardLink("pair explorer").url(link)])
        .grid_pos(model.GridPos(h=10, w=WIDTH // 3, x=(panel_id - 1) % 3 * (WIDTH // 3), y=0))
    )


def mesh(backend: Backend, group: MeshGroup, limits: Thresholds) -> model.Dashboard:
    """The group's matrix: loss % (Σlost/Σpackets over the range), jitter p95 and outage seconds per edge."""
    pair = uid(backend, "pair")
    link = (
        f"/d/{pair}?${{__url_time_range}}&var-group={group.name}"
        "&var-src=${__data.fields[0]}&var-dst=${__field.displayName}"
    )
    q, interval = backend.queries, group.traffic.interval
    panels = [
        ("Loss % (sum lost / sum packets)", q.matrix_loss(group.name), "loss_pct", limits.loss_pct),
        ("Jitter p95 (ms)", q.matrix_jitter(group.name), "jitter_ms", limits.jitter_ms),
        ("Outage time (s)", q.matrix_outage(group.name, interval), "outage_s", interval),
    ]
    builder = _dashboard(backend, "mesh", group.name, f"syntraf mesh {group.name} ({backend.name})")
    for index, (title, query, alias, red_at) in enumerate(panels, 1):
        builder.with_panel(_matrix(backend, index, title, query, alias, red_at, link))
    if group.echo is not None:
        builder.with_panel(_mos_matrix(backend, len(panels) + 1, group.name, limits.mos, link))
    return builder.build()


def _mos_matrix(backend: Backend, panel_id: int, group: str, limit: float, link: str):
    """The echo's mean MOS per edge, red below the group's alert limit, under the other matrices."""
    query = backend.queries.matrix_mos(group)
    steps = [model.Threshold(value=None, color="red"), model.Threshold(value=limit, color="green")]
    return (
        _matrix(backend, panel_id, "MOS (mean, E-model)", query, "mos", limit, link)
        .thresholds(db.ThresholdsConfig().mode(model.ThresholdsMode.ABSOLUTE).steps(steps))
        .grid_pos(model.GridPos(h=10, w=WIDTH // 3, x=0, y=10))
    )


def _voice_rows(q: Queries) -> list[tuple[str, Any, str]]:
    """The echo's panels of the pair explorer: (title, query of labels, unit)."""
    return [
        ("Round trip (ms, echo)", q.rtt, "ms"),
        ("MOS (min, E-model)", q.mos, "none"),
        ("DSCP remarked %", q.remarked, "percent"),
    ]


def _series(backend: Backend, panel_id: int, title: str, queries: list[str], unit: str, x: int, y: int):
    panel = timeseries.Panel().id(panel_id).title(title).datasource(backend.datasource).unit(unit)
    for ref, query in zip("ABCD", queries):
        panel.with_target(_target(backend, ref, query, instant=False))
    return panel.interval("1m").grid_pos(model.GridPos(h=8, w=WIDTH // 2, x=x, y=y))


def pair(backend: Backend) -> model.Dashboard:
    """Both directions of one pair: loss, jitter, bitrate and up (0 = outage)."""
    q = backend.queries
    both = [
        {"group": "$group", "src": "$src", "dst": "$dst"},
        {"group": "$group", "src": "$dst", "dst": "$src"},
    ]
    builder = _dashboard(backend, "pair", "", f"syntraf pair explorer ({backend.name})")
    _variables(builder, backend, ("group", {}), ("src", {"group": "$group"}), ("dst", {"group": "$group"}))
    rows = [
        ("Loss %", q.loss, "percent"),
        ("Jitter (ms, max)", q.jitter, "ms"),
        ("Bitrate", q.bitrate, "bps"),
        ("Up (0 = outage)", q.up, "none"),
        *_voice_rows(q),
    ]
    for index, (title, query, unit) in enumerate(rows):
        builder.with_panel(
            _series(
                backend,
                index + 1,
                title,
                [query(**labels) for labels in both],
                unit,
                index % 2 * 12,
                index // 2 * 8,
            )
        )
    return builder.build()


def host(backend: Backend) -> model.Dashboard:
    """Every edge into and out of one host."""
    q = backend.queries
    into, out = {"group": "$group", "dst": "$host"}, {"group": "$group", "src": "$host"}
    builder = _dashboard(backend, "host", "", f"syntraf host view ({backend.name})")
    _variables(builder, backend, ("group", {}), ("host", {"group": "$group"}))
    rows = [
        ("Loss % into $host", q.loss(**into), "percent"),
        ("Loss % from $host", q.loss(**out), "percent"),
        ("Jitter into $host (ms)", q.jitter(**into), "ms"),
        ("Jitter from $host (ms)", q.jitter(**out), "ms"),
        *((f"{title} into $host", query(**into), unit) for title, query, unit in _voice_rows(q)),
    ]
    for index, (title, query, unit) in enumerate(rows):
        builder.with_panel(_series(backend, index + 1, title, [query], unit, index % 2 * 12, index // 2 * 8))
    return builder.build()


def probe_health(backend: Backend, drift_query: str | None) -> model.Dashboard:
    """One table per health field (host x group, last value), and the probes whose revision is not planned."""
    builder = _dashboard(backend, "probes", "", f"syntraf probe health ({backend.name})")
    _variables(builder, backend, ("group", {}), all_groups=True)
    panels = [(field, backend.queries.health(field)) for field in HEALTH_FIELDS]
    if drift_query is not None:
        panels.append(("config drift (running revision is not the planned one)", drift_query))
    for index, (title, query) in enumerate(panels):
        builder.with_panel(
            table.Panel()
            .id(index + 1)
            .title(title)
            .datasource(backend.datasource)
            .with_target(_target(backend, "A", query, instant=True))
            .grid_pos(model.GridPos(h=7, w=WIDTH // 2, x=index % 2 * 12, y=index // 2 * 7))
        )
    return builder.build()


def _dashboard(backend: Backend, kind: str, group: str, title: str) -> db.Dashboard:
    return (
        db.Dashboard(title)
        .uid(uid(backend, kind, group))
        .tags(["syntraf", backend.name])
        .time("now-1h", "now")
        .refresh("1m")
        .readonly()
        .link(
            db.DashboardLink("syntraf")
            .type(model.DashboardLinkType.DASHBOARDS)
            .tags(["syntraf"])
            .as_dropdown(True)
        )
    )


def _variables(
    builder: db.Dashboard, backend: Backend, *variables: tuple[str, dict[str, str]], all_groups: bool = False
) -> None:
    """Query variables from the stored tags (`host` is a receiver); `all_groups`: every group at once."""
    for name, labels in variables:
        query = backend.queries.tag_values(name if name != "host" else "dst", **labels)
        variable = (
            db.QueryVariable(name)
            .datasource(backend.datasource)
            .query(query)
            .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(model.VariableSort.ALPHABETICAL_ASC)
        )
        if all_groups:
            variable.include_all(True).all_value(".*")
        builder.with_variable(variable)
