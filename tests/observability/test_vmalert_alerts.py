"""The alert rules evaluated by the real vmalert (replay mode) on a real VictoriaMetrics: three scenarios of
known points on the three-host mesh, each five minutes long and ten minutes apart; each must fire exactly
its alerts, evaluated with MetricsQL (which promtool's unit tests cannot show)."""

from __future__ import annotations

import os
import shutil
import time
import urllib.request
from pathlib import Path

import pytest

from syntraf_ctl.compile import compile_inventory
from syntraf_ctl.lab.tsdb import export, flush, start_victoria_metrics
from syntraf_ctl.observability.pack import planned_revisions
from tests.observability import data, vmalert
from tests.observability.conftest import make_inventory

LENGTH = 300  # seconds of points per scenario
SETTLED = 240  # window (2m) + for (1m) + two evaluations: from here on each scenario's alerts are firing
SCENARIOS = [
    # (lost per point by edge, hosts whose probe writes health, host dropping points, expected alerts)
    ({("a", "b"): 5}, "abc", "", {("SyntrafPathLoss", "a", "b")}),
    ({("a", "c"): 50, ("b", "c"): 50}, "abc", "", {("SyntrafHostLoss", "c")}),
    ({}, "ab", "a", {("SyntrafProbeAbsent", "c"), ("SyntrafDroppedPoints", "a")}),
    ({}, "abc", "", {("SyntrafPathMOS", "a", "b"), ("SyntrafDscpRemarked", "b", "c")}),
]
GOOD_VOICE = (4.3, 0.0)  # MOS and remarked % of every echo point, but these (the group's MOS limit: 3.6)
BAD_VOICE = {3: {("a", "b"): (3.4, 0.0), ("b", "c"): (4.3, 100.0)}}


def lines(
    start: int, lost: dict[tuple[str, str], int], probes: str, dropping: str, revisions: dict, voice: dict
) -> list:
    result = []
    for second in range(start + 1, start + LENGTH + 1):
        for src in data.HOSTS:
            for dst in data.HOSTS:
                if src != dst:
                    gone = lost.get((src, dst), 0)
                    point = data.Point(
                        src, dst, second * 1000, 50, gone, None if gone == 50 else 2.0, int(gone < 50)
                    )
                    mos, remarked = voice.get((src, dst), GOOD_VOICE)
                    echo = data.VoicePoint(src, dst, second * 1000, 40.0, mos, remarked)
                    result += [point.line(), echo.line()]
        if second % 10 == 0:
            for host in probes:
                dropped = second - start if host == dropping else 0
                result.append(
                    f"syntraf_probe,host={host},group=g,revision={revisions[host]} edges_configured=4i,"
                    f"dropped_points={dropped}i {second * 1000}"
                )
    return result


def test_each_scenario_fires_exactly_its_alerts(tmp_path: Path, pack_files: dict[str, str]) -> None:
    vmalert.binary()
    if shutil.which("victoria-metrics") is None:
        pytest.skip("victoria-metrics is not installed (scripts/setup.sh installs it)")
    plan = compile_inventory(str(make_inventory(tmp_path / "inv")))
    revisions = {host: rev for (host, _), rev in planned_revisions(plan).items()}
    listen = f"127.0.0.1:{25000 + os.getpid() % 20000}"
    url = f"http://{listen}"
    database = start_victoria_metrics(tmp_path / "vm", listen, tmp_path / "vm.log")
    try:
        first = (int(time.time()) - 3600) // 60 * 60
        starts = [first + index * 900 for index in range(len(SCENARIOS))]
        body = []
        for index, (start, (lost, probes, dropping, _)) in enumerate(zip(starts, SCENARIOS)):
            body += lines(start, lost, probes, dropping, revisions, BAD_VOICE.get(index, {}))
        request = urllib.request.Request(f"{url}/write?precision=ms", data="\n".join(body).encode())
        urllib.request.urlopen(request, timeout=60).read()
        flush(url)
        rules = tmp_path / "alerts.yml"
        rules.write_text(pack_files["rules/syntraf-alerts.yml"])
        vmalert.replay(rules, url, first, starts[-1] + LENGTH)
        alerts = export(url, '{__name__="ALERTS",alertstate="firing"}', start=first)
    finally:
        database.kill()
        database.wait()
    assert alerts, "vmalert wrote no ALERTS series"
    for start, (_, _, _, expected) in zip(starts, SCENARIOS):
        firing = set()
        for series in alerts:
            if any(start + SETTLED <= t <= start + LENGTH for t, _ in series.points):
                labels = series.labels
                who = (labels["src"], labels["dst"]) if "src" in labels else (labels["host"],)
                firing.add((labels["alertname"], *who))
        assert firing == expected, start - first
