"""The pack's files: deterministic, structurally sound, parsed back by the dashboards library, no secret."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
import yaml
from grafana_foundation_sdk.models.dashboard import Dashboard

from syntraf_ctl.cli import main
from syntraf_ctl.observability.dashboards import backends, uid
from tests.core.conftest import snapshot
from tests.observability.conftest import GROUP_VARS, TOKEN, compile_files, make_inventory


def dashboards(files: dict[str, str]) -> dict[str, dict]:
    return {path: json.loads(text) for path, text in files.items() if path.startswith("grafana/dashboards/")}


def test_same_inventory_same_bytes(tmp_path: Path, pack_files: dict[str, str]) -> None:
    assert compile_files(make_inventory(tmp_path)) == pack_files


def test_dashboards_round_trip_through_the_library(pack_files: dict[str, str]) -> None:
    for path, board in dashboards(pack_files).items():
        again = json.loads(json.dumps(Dashboard.from_json(board).to_json(), default=lambda o: o.to_json()))
        assert again == board, path


def test_panel_ids_unique_and_every_datasource_provisioned(pack_files: dict[str, str]) -> None:
    provisioned = yaml.safe_load(pack_files["grafana/provisioning/datasources/syntraf.yaml"])["datasources"]
    known = {(source["type"], source["uid"]) for source in provisioned}
    for path, board in dashboards(pack_files).items():
        ids = [panel["id"] for panel in board["panels"]]
        assert len(ids) == len(set(ids)), path
        refs = [panel["datasource"] for panel in board["panels"]]
        refs += [target["datasource"] for panel in board["panels"] for target in panel["targets"]]
        refs += [variable["datasource"] for variable in board.get("templating", {}).get("list", [])]
        assert {(ref["type"], ref["uid"]) for ref in refs} <= known, path


def test_every_link_resolves_to_a_generated_dashboard(pack_files: dict[str, str]) -> None:
    boards = dashboards(pack_files)
    uids = {board["uid"] for board in boards.values()}
    links = re.findall(r'"/d/([^?"]+)', "".join(pack_files[path] for path in boards))
    assert links and set(links) <= uids
    assert {path.split("/")[2] for path in boards} == {"influxql", "prometheus"}


def test_matrix_thresholds_come_from_the_inventory(pack_files: dict[str, str]) -> None:
    board = json.loads(pack_files["grafana/dashboards/prometheus/syntraf-prom-mesh-g.json"])
    loss = board["panels"][0]
    assert [step["value"] for step in loss["fieldConfig"]["defaults"]["thresholds"]["steps"]] == [None, 2]
    assert "sum_over_time(syntraf_lost" in loss["targets"][0]["expr"]
    assert "loss_pct" not in loss["targets"][0]["expr"]


def test_alert_thresholds_from_the_group(pack_files: dict[str, str]) -> None:
    alerts = yaml.safe_load(pack_files["rules/syntraf-alerts.yml"])["groups"][0]["rules"]
    path = next(rule for rule in alerts if rule["alert"] == "SyntrafPathLoss")
    assert path["for"] == "1m" and "[2m]" in path["expr"] and ") > 2)" in path["expr"]


def test_no_token_anywhere(pack_files: dict[str, str]) -> None:
    assert not [path for path, text in pack_files.items() if TOKEN in text]
    sources = pack_files["grafana/provisioning/datasources/syntraf.yaml"]
    assert "$__file{/etc/grafana/syntraf/influxdb-0.token}" in sources


def test_command_writes_the_pack(tmp_path: Path, capsys, pack_files: dict[str, str]) -> None:
    root = make_inventory(tmp_path / "inv")
    assert main(["observability", "-i", str(root), "-o", str(tmp_path / "out")]) == 0
    written = {
        str(path.relative_to(tmp_path / "out")): path.read_text()
        for path in (tmp_path / "out").rglob("*")
        if path.is_file()
    }
    assert written == pack_files
    assert TOKEN not in capsys.readouterr().out


@pytest.mark.parametrize("command", ["observability", "render", "plan"])
def test_bad_thresholds_named_and_nothing_written(tmp_path: Path, capsys, command: str) -> None:
    """Every command refuses them (plan and render once accepted any `alerts:` value)."""
    bad = GROUP_VARS.replace(
        "alerts: {loss_pct: 2, for: 1m, window: 2m}", "alerts: {loss_pct: 0, for: 5x, jiter_ms: 3}"
    )
    root = make_inventory(tmp_path / "inv", bad)
    before = snapshot(tmp_path)
    output = [] if command == "plan" else ["-o", str(tmp_path / "out")]
    assert main([command, "-i", str(root), *output]) == 2
    err = capsys.readouterr().err
    source = os.path.join("inv", "group_vars", "all", "main.yml")
    for key, why in (("loss_pct", "above 0"), ("for", "duration"), ("jiter_ms", "unknown setting")):
        assert re.search(
            rf"{re.escape(source)}.*mesh group g: syntraf_mesh_groups\.g\.alerts\.{key}: .*{why}", err
        ), err
    assert snapshot(tmp_path) == before


def test_window_shorter_than_two_intervals_refused(tmp_path: Path, capsys) -> None:
    root = make_inventory(
        tmp_path / "inv", GROUP_VARS.replace("interval: 1,", "interval: 60,").replace("2m}", "90s}")
    )
    assert main(["observability", "-i", str(root), "-o", str(tmp_path / "out")]) == 2
    assert (
        "alerts.window: must be at least 120 s (two intervals of the group, and 30 s)"
        in capsys.readouterr().err
    )
    assert not (tmp_path / "out").exists()


def test_flux_downsampling_task_matches_the_reviewed_golden(pack_files: dict[str, str]) -> None:
    """No Flux engine can be installed here: the task is compared with a file reviewed by hand."""
    golden = Path(__file__).with_name("golden") / "syntraf-downsample-1m.flux"
    assert pack_files["influxdb/syntraf-downsample-1m.flux"] == golden.read_text()


def test_grafana_alerts_are_the_rule_files_alerts(pack_files: dict[str, str]) -> None:
    grafana = yaml.safe_load(pack_files["grafana/provisioning/alerting/syntraf.yaml"])["groups"]
    vmalert = yaml.safe_load(pack_files["rules/syntraf-alerts.yml"])["groups"]
    sources = yaml.safe_load(pack_files["grafana/provisioning/datasources/syntraf.yaml"])["datasources"]
    provisioned = {source["uid"] for source in sources} | {"__expr__"}
    uids = [rule["uid"] for group in grafana for rule in group["rules"]]
    assert len(uids) == len(set(uids)) and max(len(uid) for uid in uids) <= 40
    for ours, theirs in zip(grafana, vmalert):
        assert [(r["data"][0]["model"]["expr"], r["for"], r["labels"]) for r in ours["rules"]] == [
            (r["expr"], r["for"], r["labels"]) for r in theirs["rules"]
        ]
        assert {query["datasourceUid"] for rule in ours["rules"] for query in rule["data"]} <= provisioned


def test_long_group_names_get_distinct_dashboard_uids() -> None:
    backend = backends({"prometheus": "ds"})[0]
    names = ["x" * 49 + "a", "x" * 49 + "b", "short"]
    uids = [uid(backend, "mesh", name) for name in names]
    assert len(set(uids)) == 3 and all(len(value) <= 40 for value in uids)
    assert uids[2] == "syntraf-prom-mesh-short"


def test_a_mos_limit_out_of_range_is_named_and_refused(tmp_path: Path, capsys) -> None:
    root = make_inventory(tmp_path / "inv", GROUP_VARS.replace("window: 2m}", "window: 2m, mos: 5}"))
    assert main(["plan", "-i", str(root)]) == 2
    assert re.search(r"syntraf_mesh_groups\.g\.alerts\.mos: .*at most 4\.5", capsys.readouterr().err)


def test_echo_alerts_use_the_groups_mos_limit(pack_files: dict[str, str]) -> None:
    alerts = yaml.safe_load(pack_files["rules/syntraf-alerts.yml"])["groups"][0]["rules"]
    mos = next(rule for rule in alerts if rule["alert"] == "SyntrafPathMOS")
    assert "syntraf_voice_mos" in mos["expr"] and mos["expr"].endswith("< 3.6")  # the EF default
