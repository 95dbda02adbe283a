"""Every InfluxQL query of the pack run against a real InfluxDB 1.x (Debian's influxdb 1.6.7, loaded through
its v1 /write with the same known points as the VictoriaMetrics tests)."""

from __future__ import annotations

import json
import shutil
import statistics
import time
from collections.abc import Iterator

import pytest

from tests.observability import data
from tests.observability.influx import Influx, load, rows
from tests.support.wan_influx import influxd


@pytest.fixture(scope="module")
def influx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Influx]:
    if shutil.which("influxd") is None:
        pytest.skip("influxd is not installed (scripts/setup.sh installs Debian's influxdb)")
    with influxd(tmp_path_factory.mktemp("influxdb")) as url:
        end_s = int(time.time()) // 60 * 60
        points = data.points(end_s)
        lines = [p.line() for p in points] + [p.line() for p in data.voice_points(end_s)]
        lines += data.health_lines(end_s, {"a": "r1", "b": "r1", "c": "r1"})
        load(url, lines)
        yield Influx(url, end_s, points)


def board(pack_files: dict[str, str], name: str) -> dict:
    return json.loads(pack_files[f"grafana/dashboards/influxql/{name}.json"])


def test_matrix_cell_is_sum_lost_over_sum_packets(influx: Influx, pack_files: dict[str, str]) -> None:
    panels = board(pack_files, "syntraf-infl-mesh-g")["panels"]
    loss, jitter, outage, _ = (panel["targets"][0]["query"] for panel in panels)
    columns = {panel["transformations"][0]["options"]["valueField"] for panel in panels}
    assert columns == {"loss_pct", "jitter_ms", "outage_s", "mos"}  # what the matrix transformation reads
    cells = {(s["tags"]["src"], s["tags"]["dst"]): rows(s)[0] for s in influx.query(loss)}
    assert len(cells) == 6
    for (src, dst), row in cells.items():
        assert row["loss_pct"] == pytest.approx(data.loss_pct(data.edge(influx.points, src, dst)), abs=1e-9)
    for series in influx.query(outage):
        edge = data.edge(influx.points, series["tags"]["src"], series["tags"]["dst"])
        assert rows(series)[0]["outage_s"] == sum(1 for p in edge if not p.up)
    for series in influx.query(jitter):
        edge = data.edge(influx.points, series["tags"]["src"], series["tags"]["dst"])
        values = sorted(p.jitter_ms for p in edge if p.jitter_ms is not None)
        assert (
            values[int(0.94 * len(values))] <= rows(series)[0]["jitter_ms"] <= values[int(0.96 * len(values))]
        )


def test_pair_and_host_panels_return_their_series(influx: Influx, pack_files: dict[str, str]) -> None:
    expected = {"syntraf-infl-pair": {("a", "b"), ("b", "a")}, "syntraf-infl-host": {("a", "c"), ("b", "c")}}
    for name, edges in expected.items():
        for panel in board(pack_files, name)["panels"]:
            got = {
                (s["tags"]["src"], s["tags"]["dst"])
                for t in panel["targets"]
                for s in influx.query(t["query"])
            }
            assert got == ({("c", "a"), ("c", "b")} if "from $host" in panel["title"] else edges), panel[
                "title"
            ]
    loss = board(pack_files, "syntraf-infl-pair")["panels"][0]["targets"][0]["query"]
    series = next(s for s in influx.query(loss) if s["tags"] == {"src": "a", "dst": "b"})
    checked = 0
    for row in rows(series):
        bucket = data.edge(influx.points, "a", "b", row["time"] * 1000 - 1, row["time"] * 1000 + 59_999)
        if row["loss_pct"] is not None:
            assert row["loss_pct"] == pytest.approx(data.loss_pct(bucket), abs=1e-9)
            checked += 1
    assert checked >= 9


def test_variables_and_probe_health(influx: Influx, pack_files: dict[str, str]) -> None:
    for variable in board(pack_files, "syntraf-infl-pair")["templating"]["list"]:
        values = sorted(v for s in influx.query(variable["query"]) for _, v in s["values"])
        assert values == (["g"] if variable["name"] == "group" else ["a", "b", "c"])
    for panel in board(pack_files, "syntraf-infl-probes")["panels"]:
        result = influx.query(panel["targets"][0]["query"])
        hosts = {s["tags"]["host"]: rows(s)[0][panel["title"]] for s in result}
        expected = {
            "dropped_points": {"a": 0, "b": 1, "c": 2},
            "edges_configured": dict.fromkeys("abc", 4),
            "edges_measuring": dict.fromkeys("abc", 4),
        }
        assert hosts == expected.get(panel["title"], dict.fromkeys("abc", 0)), panel["title"]


def test_echo_panels_read_the_voice_points(influx: Influx, pack_files: dict[str, str]) -> None:
    """Issue 12: as in test_victoria_metrics, from InfluxDB: the MOS matrix cell is the edge's mean MOS;
    the pair explorer's round trip, MOS and remark share are each minute's mean, worst and largest."""
    voice = data.voice_points(influx.end_s)
    matrix = board(pack_files, "syntraf-infl-mesh-g")["panels"][3]
    cells = {
        (s["tags"]["src"], s["tags"]["dst"]): rows(s)[0]["mos"]
        for s in influx.query(matrix["targets"][0]["query"])
    }
    assert len(cells) == 6
    for (src, dst), value in cells.items():
        assert value == pytest.approx(statistics.mean(p.mos for p in data.edge(voice, src, dst)), abs=1e-9)
    panels = {panel["title"]: panel for panel in board(pack_files, "syntraf-infl-pair")["panels"]}
    checks = {
        "Round trip (ms, echo)": ("rtt_ms", lambda minute: statistics.mean(p.rtt_mean_ms for p in minute)),
        "MOS (min, E-model)": ("mos", lambda minute: min(p.mos for p in minute)),
        "DSCP remarked %": ("remarked_pct", lambda minute: max(p.remarked_pct for p in minute)),
    }
    for title, (column, expected) in checks.items():
        series = next(
            s
            for s in influx.query(panels[title]["targets"][0]["query"])
            if s["tags"] == {"src": "a", "dst": "b"}
        )
        checked = 0
        for row in rows(series):
            minute = data.edge(voice, "a", "b", row["time"] * 1000 - 1, row["time"] * 1000 + 59_999)
            if row[column] is not None:
                assert row[column] == pytest.approx(expected(minute), abs=1e-9), title
                checked += 1
        assert checked >= 9, title
    host = {panel["title"]: panel for panel in board(pack_files, "syntraf-infl-host")["panels"]}
    into_c = {
        s["tags"]["src"]: max(row["remarked_pct"] for row in rows(s) if row["remarked_pct"] is not None)
        for s in influx.query(host["DSCP remarked % into $host"]["targets"][0]["query"])
    }
    assert into_c == {"a": 0.0, "b": 100.0}
