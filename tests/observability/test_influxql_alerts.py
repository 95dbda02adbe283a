"""The Grafana-managed alerts for InfluxDB-only users (InfluxQL data source): every query of every rule run
against a real InfluxDB 1.x loaded with a scenario on five hosts (every edge into c loses half its
packets, a -> b loses 10 %, d -> e has high jitter, a -> b has a low MOS, b -> c is remarked; of the
planned probes a, b, c only a and b report, b with an old revision and dropped points), and the
provisioning file's structure. Grafana itself cannot be installed here: the rules' expressions (reduce,
math, threshold) are checked for structure, and the firing sets are worked out from the queries' real
results with the thresholds the rules carry."""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator

import pytest
import yaml

from syntraf_ctl.ansible_inventory import LoadedInventory
from syntraf_ctl.compile import compile_inventory
from syntraf_ctl.observability.pack import compile_pack, planned_revisions
from syntraf_ctl.observability.thresholds import group_thresholds
from tests.observability.conftest import make_inventory
from tests.observability.influx import Influx, load, rows
from tests.support.wan_influx import influxd

HOSTS = "abcde"
WINDOW_S = 120  # the fixture group's `window: 2m`
PLANNED = ("a", "b", "c")


def scenario(end_s: int, revision: str) -> list[str]:
    lines = []
    for src in HOSTS:
        for dst in HOSTS.replace(src, ""):
            lost = 25 if dst == "c" else 5 if (src, dst) == ("a", "b") else 0
            jitter = 50.0 if dst == "c" or (src, dst) == ("d", "e") else 5.0
            mos = 2.0 if (src, dst) == ("a", "b") else 4.2
            for second in range(end_s - WINDOW_S + 1, end_s + 1):
                remark = 100.0 if (src, dst) == ("b", "c") and second % 10 == 0 else 0.0
                lines.append(
                    f"syntraf,group=g,src={src},dst={dst},dscp=46 packets=50i,lost={lost}i,up=1i,"
                    f"jitter_ms={jitter} {second * 1000}"
                )
                lines.append(
                    f"syntraf_voice,group=g,src={src},dst={dst},dscp=46 mos={mos},rtt_mean_ms=20,"
                    f"remarked_pct={remark} {second * 1000}"
                )
    # a restarted (its counter back to 0: nothing dropped), b dropped 11 points with an old revision
    for step, second in enumerate(range(end_s - 110, end_s + 1, 10)):
        for host, rev, dropped_points in (("a", revision, 0 if step > 5 else 3), ("b", "old", step)):
            lines.append(
                f"syntraf_probe,host={host},group=g,revision={rev} edges_configured=4i,"
                f"dropped_points={dropped_points}i {second * 1000}"
            )
    return lines


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Influx, dict]]:
    if shutil.which("influxd") is None:
        pytest.skip("influxd is not installed (scripts/setup.sh installs Debian's influxdb)")
    root = make_inventory(tmp_path_factory.mktemp("obs-inventory"))
    plan = compile_inventory(str(root))
    limits, _ = group_thresholds(plan.model, LoadedInventory(str(root)).globals())
    files = compile_pack(plan, limits, backends=("influxql",)).files
    provisioning = {
        "alerting": yaml.safe_load(files["grafana/provisioning/alerting/syntraf.yaml"]),
        "datasources": yaml.safe_load(files["grafana/provisioning/datasources/syntraf.yaml"]),
    }
    with influxd(tmp_path_factory.mktemp("influxdb")) as url:
        end_s = int(time.time()) // 60 * 60
        load(url, scenario(end_s, planned_revisions(plan)[("a", "g")]))
        yield Influx(url, end_s, []), provisioning


def rules(provisioning: dict) -> dict[str, dict]:
    (group,) = provisioning["alerting"]["groups"]
    return {rule["title"]: rule for rule in group["rules"]}


def results(influx: Influx, rule: dict) -> dict[str, dict[tuple, float]]:
    """refId -> {the series' tag values: its last non-null value} of each InfluxQL query of `rule`."""
    out = {}
    for item in rule["data"]:
        if item["datasourceUid"] != "__expr__":
            series = influx.query(item["model"]["query"], item["relativeTimeRange"]["from"])
            out[item["refId"]] = {
                tuple(sorted((s.get("tags") or {}).items())): [v for r in rows(s) for v in r.values()][-1]
                for s in series
            }
    return out


def firing(rule: dict, values: dict[tuple, float]) -> set[tuple]:
    """The series of a one-query rule whose value passes the rule's threshold."""
    (evaluator,) = [c["evaluator"] for d in rule["data"] for c in d["model"].get("conditions", [])]
    compare = {"gt": float.__gt__, "lt": float.__lt__}[evaluator["type"]]
    return {tags for tags, value in values.items() if compare(float(value), float(evaluator["params"][0]))}


def test_host_rules_name_the_host_whose_edges_are_lost(setup) -> None:
    influx, provisioning = setup
    into = results(influx, rules(provisioning)["SyntrafHostLossInto (g)"])["A"]
    out = results(influx, rules(provisioning)["SyntrafHostLossFrom (g)"])["A"]
    assert into == {(("dst", h),): 1.0 if h == "c" else 0.25 if h == "b" else 0.0 for h in HOSTS}
    assert out == {(("src", h),): 0.5 if h == "a" else 0.0 if h == "c" else 0.25 for h in HOSTS}
    assert firing(rules(provisioning)["SyntrafHostLossInto (g)"], into) == {(("dst", "c"),)}
    assert firing(rules(provisioning)["SyntrafHostLossFrom (g)"], out) == set()


@pytest.mark.parametrize(
    ("title", "limit", "expected"),
    [("SyntrafPathLoss (g)", 2, ("a", "b")), ("SyntrafPathJitter (g)", 30, ("d", "e"))],
)
def test_path_rules_fire_for_one_edge_and_leave_the_host_to_its_rule(setup, title, limit, expected) -> None:
    influx, provisioning = setup
    rule = rules(provisioning)[title]
    math = next(d["model"]["expression"] for d in rule["data"] if d["model"].get("type") == "math")
    assert math == f"$RA > {limit} && $RI <= 0.5 && $RO <= 0.5"
    assert rule["condition"] == "C" and rule["data"][-1]["model"]["expression"] == "M"
    got = results(influx, rule)
    share_in, share_out = ({tags[0][1]: v for tags, v in got[ref].items()} for ref in "IO")
    over = {tuple(v for _, v in tags) for tags, value in got["A"].items() if value > limit}  # (dst, src)
    assert over == {expected[::-1]} | {("c", src) for src in HOSTS if src != "c"}
    fired = {edge for edge in over if share_in[edge[0]] <= 0.5 and share_out[edge[1]] <= 0.5}
    assert fired == {expected[::-1]}


def test_probe_rules_absent_drift_and_dropped(setup) -> None:
    influx, provisioning = setup
    by_title = rules(provisioning)
    for host in PLANNED:
        rule = by_title[f"SyntrafProbeAbsent {host} (g)"]
        assert rule["noDataState"] == "Alerting" and rule["labels"]["host"] == host
        assert bool(results(influx, rule)["A"]) == (host != "c")  # no data: the alert for c only
    drift = results(influx, by_title["SyntrafConfigDrift (g)"])["A"]
    assert firing(by_title["SyntrafConfigDrift (g)"], drift) == {(("host", "b"), ("revision", "old"))}
    dropped = results(influx, by_title["SyntrafDroppedPoints (g)"])["A"]
    assert dropped == {(("host", "a"),): 0, (("host", "b"),): 11}
    assert firing(by_title["SyntrafDroppedPoints (g)"], dropped) == {(("host", "b"),)}


def test_echo_rules(setup) -> None:
    influx, provisioning = setup
    by_title = rules(provisioning)
    mos = results(influx, by_title["SyntrafPathMOS (g)"])["A"]
    assert firing(by_title["SyntrafPathMOS (g)"], mos) == {(("dst", "b"), ("src", "a"))}
    remarked = results(influx, by_title["SyntrafDscpRemarked (g)"])["A"]
    assert firing(by_title["SyntrafDscpRemarked (g)"], remarked) == {
        (("dscp", "46"), ("dst", "c"), ("src", "b"))
    }


def test_provisioning_structure(setup) -> None:
    """Every data source provisioned, uids unique and short, Grafana's provisioning fields, each rule's
    condition the last item, the thresholds and labels from the inventory."""
    _, provisioning = setup
    provisioned = {source["uid"] for source in provisioning["datasources"]["datasources"]} | {"__expr__"}
    assert provisioning["alerting"]["apiVersion"] == 1
    (group,) = provisioning["alerting"]["groups"]
    assert set(group) == {"orgId", "name", "folder", "interval", "rules"} and group["interval"] == "30s"
    uids = [rule["uid"] for rule in group["rules"]]
    assert len(uids) == len(set(uids)) and max(len(uid) for uid in uids) <= 40
    fields = {
        "uid",
        "title",
        "condition",
        "data",
        "noDataState",
        "execErrState",
        "for",
        "labels",
        "annotations",
    }
    for rule in group["rules"]:
        assert set(rule) == fields, rule["title"]
        refs = [item["refId"] for item in rule["data"]]
        assert len(refs) == len(set(refs)) and rule["condition"] == refs[-1]
        for index, item in enumerate(rule["data"]):
            assert item["datasourceUid"] in provisioned and item["model"]["refId"] == item["refId"]
            assert set(item["relativeTimeRange"]) == {"from", "to"}
            if item["datasourceUid"] == "__expr__":  # reads only queries and expressions before it
                model = item["model"]
                used = (
                    re.findall(r"\$(\w+)", model["expression"])
                    if model["type"] == "math"
                    else [model["expression"]]
                )
                assert model["type"] in {"reduce", "math", "threshold"} and set(used) <= set(refs[:index])
            else:
                assert item["datasourceUid"] == "syntraf-influxql" and item["model"]["rawQuery"] is True
        assert rule["labels"]["syntraf_group"] == "g" and rule["noDataState"] in {"OK", "Alerting"}
    assert {rule["for"] for rule in group["rules"]} == {"1m", "10m", "0s"}
