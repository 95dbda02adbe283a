"""The alert rules on the lab: real probes under systemd write to the lab's database, one probe is stopped,
and the real vmalert evaluates the generated rules over that stretch: a dead probe is a probe-absent alert,
never a network alert (its peers get refused connections: nothing, not outages)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from syntraf_ctl.lab.tsdb import export
from tests.observability import vmalert
from tests.support.lab_control import Lab

pytestmark = pytest.mark.lab

ALERTS = {"loss_pct": 2, "for": "10s", "window": "30s"}
STOPPED = "lab3"


def ctl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "syntraf_ctl.cli", *args], capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="module")
def deployed(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The lab's mesh with alert thresholds on voip (bulk disabled), applied; destroyed afterwards."""
    vmalert.binary()
    inventory = tmp_path_factory.mktemp("observability") / "inventory"
    shutil.copytree(lab.inventory, inventory)
    main = inventory / "group_vars" / "all" / "main.yml"
    settings = yaml.safe_load(main.read_text())
    settings["syntraf_mesh_groups"]["voip"]["alerts"] = ALERTS
    settings["syntraf_mesh_groups"]["bulk"]["disabled"] = True
    main.write_text(yaml.safe_dump(settings))
    try:
        done = ctl("apply", "-i", str(inventory))
        assert done.returncode == 0, done.stdout + done.stderr
        yield inventory
    finally:
        lab.exec(STOPPED, ["systemctl", "start", "syntraf-probe@voip"], check=False)
        ctl("destroy", "-i", str(inventory))


def wait_all_probes_report(lab: Lab, timeout: float = 60) -> None:
    """Until every host's voip probe has written a health point in the last 5 s."""
    deadline = time.monotonic() + timeout
    while True:
        recent = time.time() - 5
        series = export(lab.db_url, '{__name__="syntraf_probe_edges_configured",group="voip"}', start=recent)
        if {item.labels["host"] for item in series if item.points} >= set(lab.host_names):
            return
        assert time.monotonic() < deadline, "not every probe reports health"
        time.sleep(1)


def firing(lab: Lab, rules: Path, start: float, end: float) -> list[tuple[float, str, tuple[str, ...]]]:
    """(time, alert, who) of every firing sample vmalert's replay of `rules` over [start, end] writes."""
    vmalert.replay(rules, lab.db_url, start, end)
    found = []
    for series in export(lab.db_url, '{__name__="ALERTS",alertstate="firing"}', start=start):
        labels = series.labels
        who = (labels["src"], labels["dst"]) if "src" in labels else (labels["host"],)
        found.extend((t, labels["alertname"], who) for t, _ in series.points)
    return found


def test_a_stopped_probe_is_probe_absent_not_a_network_alert(
    lab: Lab, deployed: Path, tmp_path: Path
) -> None:
    out = tmp_path / "pack"
    done = ctl("observability", "-i", str(deployed), "-o", str(out), "--backend", "prometheus")
    assert done.returncode == 0, done.stdout + done.stderr
    wait_all_probes_report(lab)
    time.sleep(20)  # measurements of the healthy mesh first
    stopped = time.time()
    lab.exec(STOPPED, ["systemctl", "stop", "syntraf-probe@voip"])
    # silent for the window (30 s), then `for` (10 s) over evaluations every 10 s: firing within 60 s
    time.sleep(65)
    end = time.time() - 3
    alerts = firing(lab, out / "rules" / "syntraf-alerts.yml", stopped - 15, end)
    assert {(name, who) for _, name, who in alerts} == {("SyntrafProbeAbsent", (STOPPED,))}, alerts
    assert max(t for t, _, _ in alerts) >= end - 45  # still firing at the end
