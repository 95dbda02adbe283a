"""The generated rule files, checked by the real tools: promtool (check and unit tests of every alert on a
three-host mesh) and vmalert's own parser."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from syntraf_ctl.compile import compile_inventory
from syntraf_ctl.observability.pack import planned_revisions
from tests.observability.conftest import make_inventory

ALERTS = (
    "SyntrafHostLoss",
    "SyntrafPathLoss",
    "SyntrafPathJitter",
    "SyntrafProbeAbsent",
    "SyntrafConfigDrift",
    "SyntrafDroppedPoints",
)
HOSTS = ("a", "b", "c")
SEVERITY = {
    "SyntrafPathLoss": "warning",
    "SyntrafHostLoss": "critical",
    "SyntrafProbeAbsent": "critical",
    "SyntrafConfigDrift": "warning",
    "SyntrafDroppedPoints": "warning",
}
POINTS = "x60"  # 15 min of 15 s points


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed (scripts/setup.sh installs it)")
    return path


def write_rules(tmp_path: Path, pack_files: dict[str, str]) -> list[Path]:
    paths = []
    for name in ("rules/syntraf-alerts.yml", "rules/syntraf-recording.yml"):
        path = tmp_path / Path(name).name
        path.write_text(pack_files[name])
        paths.append(path)
    return paths


def test_promtool_and_vmalert_accept_the_files(tmp_path: Path, pack_files: dict[str, str]) -> None:
    paths = [str(path) for path in write_rules(tmp_path, pack_files)]
    subprocess.run([need("promtool"), "check", "rules", *paths], check=True, capture_output=True)
    rules = ",".join(paths)
    result = subprocess.run([need("vmalert"), "-dryRun", f"-rule={rules}"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def series(
    lost: dict[tuple[str, str], int], probes: dict[str, str], dropping: str = ""
) -> list[dict[str, str]]:
    """15 s points: 50 packets per point on every edge, `lost` of them on the listed edges; health points
    for the probes in `probes` (host -> the revision it reports), `dropping` losing points for good."""
    result = []
    for src in HOSTS:
        for dst in HOSTS:
            if src != dst:
                labels = f'group="g",src="{src}",dst="{dst}",dscp="46"'
                loss = lost.get((src, dst), 0)
                result.append({"series": f"syntraf_packets{{{labels}}}", "values": f"50+0{POINTS}"})
                result.append({"series": f"syntraf_lost{{{labels}}}", "values": f"{loss}+0{POINTS}"})
                result.append({"series": f"syntraf_jitter_ms{{{labels}}}", "values": f"1+0{POINTS}"})
    for host, revision in probes.items():
        labels = f'group="g",host="{host}",revision="{revision}"'
        dropped = "0+1" if host == dropping else "0+0"
        result.append({"series": f"syntraf_probe_edges_configured{{{labels}}}", "values": f"4+0{POINTS}"})
        result.append({"series": f"syntraf_probe_dropped_points{{{labels}}}", "values": f"{dropped}{POINTS}"})
    return result


def expect(firing: dict[str, list[dict[str, str]]]) -> list[dict]:
    """Every alert at 11 min (config drift waits 10 min): exactly the listed ones (labels besides the rule's
    own), none of the others."""
    tests = []
    for alert in ALERTS:
        wanted = [
            {"exp_labels": {**labels, "syntraf_group": "g", "severity": SEVERITY[alert]}}
            for labels in firing.get(alert, [])
        ]
        tests.append({"eval_time": "11m", "alertname": alert, "exp_alerts": wanted})
    return tests


@pytest.fixture
def revisions(tmp_path: Path) -> dict[str, str]:
    plan = compile_inventory(str(make_inventory(tmp_path / "inv")))
    return {host: revision for (host, _), revision in planned_revisions(plan).items()}


def test_alert_semantics_with_promtool(
    tmp_path: Path, pack_files: dict[str, str], revisions: dict[str, str]
) -> None:
    rules = yaml.safe_load(pack_files["rules/syntraf-alerts.yml"])
    for rule in rules["groups"][0]["rules"]:
        rule.pop("annotations")  # templated texts: `promtool check rules` above validates them
    (tmp_path / "alerts.yml").write_text(yaml.safe_dump(rules))
    healthy = dict(revisions)
    cases = [
        # one bad edge: one path alert, nothing about its hosts
        (
            {("a", "b"): 10},
            healthy,
            "",
            {"SyntrafPathLoss": [{"group": "g", "src": "a", "dst": "b"}]},
        ),
        # everything into c lost: one host alert, the two edges' path alerts suppressed
        (
            {("a", "c"): 50, ("b", "c"): 50},
            healthy,
            "",
            {"SyntrafHostLoss": [{"group": "g", "host": "c"}]},
        ),
        # everything from a lost (its outbound side): the same, for a
        (
            {("a", "b"): 50, ("a", "c"): 50},
            healthy,
            "",
            {"SyntrafHostLoss": [{"group": "g", "host": "a"}]},
        ),
        # into c and from c: still one alert for c
        (
            {("a", "c"): 50, ("b", "c"): 50, ("c", "a"): 50, ("c", "b"): 50},
            healthy,
            "",
            {"SyntrafHostLoss": [{"group": "g", "host": "c"}]},
        ),
        # c's probe silent, b runs an old config and a drops points: one alert each, no network alert
        (
            {},
            {"a": revisions["a"], "b": "000000000000"},
            "a",
            {
                "SyntrafProbeAbsent": [{"group": "g", "host": "c"}],
                "SyntrafConfigDrift": [{"group": "g", "host": "b", "revision": "000000000000"}],
                "SyntrafDroppedPoints": [{"group": "g", "host": "a"}],
            },
        ),
    ]
    tests = [
        {"interval": "15s", "input_series": series(lost, probes, dropping), "alert_rule_test": expect(firing)}
        for lost, probes, dropping, firing in cases
    ]
    spec = {"rule_files": ["alerts.yml"], "evaluation_interval": "30s", "tests": tests}
    (tmp_path / "test.yml").write_text(yaml.safe_dump(spec))
    result = subprocess.run(
        [need("promtool"), "test", "rules", "test.yml"], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
