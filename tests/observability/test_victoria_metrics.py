"""Every PromQL query of the pack run against a real VictoriaMetrics holding known syntraf points; the
recording rules evaluated by the real vmalert (replay) over the same points."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from syntraf_ctl.compile import compile_inventory
from syntraf_ctl.lab.tsdb import export, flush, start_victoria_metrics
from syntraf_ctl.observability.pack import planned_revisions
from tests.observability import data, vmalert
from tests.observability.conftest import make_inventory

GRAFANA = {"$__range": "600s", "$__interval": "60s", "$group": "g", "$src": "a", "$dst": "b", "$host": "c"}


def grafana(query: str) -> str:
    """The query as Grafana sends it for the test's time range and variables."""
    for macro, value in GRAFANA.items():
        query = query.replace(macro, value)
    return query


class Store:
    def __init__(self, url: str, end_s: int, points: list[data.Point], revisions: dict[str, str]) -> None:
        self.url, self.end_s, self.points, self.revisions = url, end_s, points, revisions

    def get(self, path: str, **params: object) -> dict:
        query = urllib.parse.urlencode(params)
        with urllib.request.urlopen(f"{self.url}{path}?{query}", timeout=30) as response:
            body = json.loads(response.read())
        assert body["status"] == "success", body
        return body["data"]

    def instant(self, query: str) -> dict[tuple[str, str], float]:
        """(src, dst) or (host, group) -> value of an instant query at the end of the data."""
        result = self.get("/api/v1/query", query=grafana(query), time=self.end_s)["result"]
        return {_key(item["metric"]): float(item["value"][1]) for item in result}

    def ranged(self, query: str) -> dict[tuple[str, str], list[tuple[int, float]]]:
        start = self.end_s - data.SECONDS + 60
        result = self.get("/api/v1/query_range", query=grafana(query), start=start, end=self.end_s, step=60)
        return {
            _key(item["metric"]): [(int(t), float(v)) for t, v in item["values"]] for item in result["result"]
        }


def _key(labels: dict[str, str]) -> tuple[str, str]:
    return (labels["src"], labels["dst"]) if "src" in labels else (labels["host"], labels["group"])


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, pack_files: dict[str, str]) -> Iterator[Store]:
    if shutil.which("victoria-metrics") is None:
        pytest.skip("victoria-metrics is not installed (scripts/setup.sh installs it)")
    tmp = tmp_path_factory.mktemp("vm")
    plan = compile_inventory(str(make_inventory(tmp / "inv")))
    revisions = {host: rev for (host, _), rev in planned_revisions(plan).items()}
    reported = {**revisions, "c": "000000000000"}  # c runs a config that is not the planned one
    listen = f"127.0.0.1:{23000 + os.getpid() % 20000}"
    database = start_victoria_metrics(tmp / "data", listen, tmp / "vm.log")
    try:
        end_s = (int(time.time()) - 180) // 60 * 60
        points = data.points(end_s)
        voice = [p.line() for p in data.voice_points(end_s)]
        body = "\n".join([p.line() for p in points] + voice + data.health_lines(end_s, reported)).encode()
        request = urllib.request.Request(f"http://{listen}/write?precision=ms", data=body, method="POST")
        urllib.request.urlopen(request, timeout=30).read()
        flush(f"http://{listen}")
        yield Store(f"http://{listen}", end_s, points, revisions)
    finally:
        database.kill()
        database.wait()


def board(pack_files: dict[str, str], name: str) -> dict:
    return json.loads(pack_files[f"grafana/dashboards/prometheus/{name}.json"])


def test_matrix_cell_is_sum_lost_over_sum_packets(store: Store, pack_files: dict[str, str]) -> None:
    loss, jitter, outage, _ = (
        panel["targets"][0]["expr"] for panel in board(pack_files, "syntraf-prom-mesh-g")["panels"]
    )
    cells = store.instant(loss)
    assert len(cells) == 6
    for (src, dst), value in cells.items():
        points = data.edge(store.points, src, dst)
        assert value == pytest.approx(data.loss_pct(points), abs=1e-9)
        assert abs(value - statistics.mean(p.loss_pct for p in points)) > 0.01  # the data tells them apart
    for (src, dst), value in store.instant(outage).items():
        assert value == sum(1 for p in data.edge(store.points, src, dst) if not p.up)
    for (src, dst), value in store.instant(jitter).items():
        values = sorted(p.jitter_ms for p in data.edge(store.points, src, dst) if p.jitter_ms is not None)
        assert values[int(0.94 * len(values))] <= value <= values[int(0.96 * len(values))]


def test_pair_and_host_panels_return_their_series(store: Store, pack_files: dict[str, str]) -> None:
    expected = {"syntraf-prom-pair": {("a", "b"), ("b", "a")}, "syntraf-prom-host": {("a", "c"), ("b", "c")}}
    for name, edges in expected.items():
        panels = board(pack_files, name)["panels"]
        for panel in panels:
            got = set()
            for target in panel["targets"]:
                series = store.ranged(target["expr"])
                assert series, (name, panel["title"])
                got |= set(series)
            if "from $host" in panel["title"]:
                assert got == {("c", "a"), ("c", "b")}
            else:
                assert got == edges, (name, panel["title"])
    loss = store.ranged(board(pack_files, "syntraf-prom-pair")["panels"][0]["targets"][0]["expr"])
    for t, value in loss[("a", "b")]:
        minute = data.edge(store.points, "a", "b", (t - 60) * 1000, t * 1000)
        assert value == pytest.approx(data.loss_pct(minute), abs=1e-9)


def test_variables_and_probe_health(store: Store, pack_files: dict[str, str]) -> None:
    pair = board(pack_files, "syntraf-prom-pair")
    for variable in pair["templating"]["list"]:
        selector, label = grafana(variable["query"])[len("label_values(") : -1].rsplit(", ", 1)
        start = store.end_s - data.SECONDS
        values = store.get(f"/api/v1/label/{label}/values", **{"match[]": selector, "start": start})
        assert values == (["g"] if label == "group" else ["a", "b", "c"])
    panels = {
        panel["title"]: panel["targets"][0]["expr"]
        for panel in board(pack_files, "syntraf-prom-probes")["panels"]
    }
    assert store.instant(panels["dropped_points"]) == {("a", "g"): 0.0, ("b", "g"): 1.0, ("c", "g"): 2.0}
    assert store.instant(panels["edges_configured"]) == {(h, "g"): 4.0 for h in data.HOSTS}
    drift = next(query for title, query in panels.items() if title.startswith("config drift"))
    assert set(store.instant(drift)) == {("c", "g")}


def test_recording_rules_keep_sum_lost_over_sum_packets(
    store: Store, pack_files: dict[str, str], tmp_path: Path
) -> None:
    """vmalert evaluates the 1-minute recording rules over the stored points (replay mode) and writes them
    back; each minute's loss from the recorded sums equals the raw points' to 1e-9, and so does the whole."""
    rules = tmp_path / "recording.yml"
    rules.write_text(pack_files["rules/syntraf-recording.yml"])
    start, end = store.end_s - data.SECONDS, store.end_s

    vmalert.replay(rules, store.url, start, end)
    recorded = {name: {} for name in ("syntraf:lost:sum1m", "syntraf:packets:sum1m")}
    for series in export(store.url, '{__name__=~"syntraf:(lost|packets):sum1m"}', start=start):
        recorded[series.name][(series.labels["src"], series.labels["dst"])] = dict(series.points)
    assert len(recorded["syntraf:lost:sum1m"]) == 6
    for (src, dst), lost in recorded["syntraf:lost:sum1m"].items():
        packets = recorded["syntraf:packets:sum1m"][(src, dst)]
        assert len(lost) >= 9
        for t, value in lost.items():
            minute = data.edge(store.points, src, dst, int((t - 60) * 1000), int(t * 1000))
            assert 100 * value / packets[t] == pytest.approx(data.loss_pct(minute), abs=1e-9)
        covered = data.edge(store.points, src, dst, int((min(lost) - 60) * 1000), int(max(lost) * 1000))
        whole = 100 * sum(lost.values()) / sum(packets.values())
        assert whole == pytest.approx(data.loss_pct(covered), abs=1e-9)


def test_echo_panels_read_the_voice_points(store: Store, pack_files: dict[str, str]) -> None:
    """Issue 12: the MOS matrix cell is the edge's mean MOS; the pair explorer's round trip is each minute's
    mean, its MOS the minute's worst, its remark share the minute's largest (b -> c only is remarked)."""
    voice = data.voice_points(store.end_s)
    matrix = board(pack_files, "syntraf-prom-mesh-g")["panels"][3]
    assert matrix["title"].startswith("MOS")
    cells = store.instant(matrix["targets"][0]["expr"])
    assert len(cells) == 6
    for (src, dst), value in cells.items():
        assert value == pytest.approx(statistics.mean(p.mos for p in data.edge(voice, src, dst)), abs=1e-9)
    panels = {panel["title"]: panel for panel in board(pack_files, "syntraf-prom-pair")["panels"]}
    checks = {
        "Round trip (ms, echo)": lambda minute: statistics.mean(p.rtt_mean_ms for p in minute),
        "MOS (min, E-model)": lambda minute: min(p.mos for p in minute),
        "DSCP remarked %": lambda minute: max(p.remarked_pct for p in minute),
    }
    for title, expected in checks.items():
        series = store.ranged(panels[title]["targets"][0]["expr"])[("a", "b")]
        assert len(series) >= 9, title
        for t, value in series:
            minute = data.edge(voice, "a", "b", (t - 60) * 1000, t * 1000)
            assert value == pytest.approx(expected(minute), abs=1e-9), title
    remarked = panels["DSCP remarked %"]["targets"]
    assert {edge for target in remarked for edge, values in store.ranged(target["expr"]).items()} == {
        ("a", "b"),
        ("b", "a"),
    }
    host = {panel["title"]: panel for panel in board(pack_files, "syntraf-prom-host")["panels"]}
    into_c = store.ranged(host["DSCP remarked % into $host"]["targets"][0]["expr"])
    assert max(value for _, value in into_c[("b", "c")]) == 100.0
    assert max(value for _, value in into_c[("a", "c")]) == 0.0
