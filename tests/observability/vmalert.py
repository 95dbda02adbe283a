"""Run the real vmalert once over stored points (replay mode): it evaluates rule files over [start, end] at
each group's interval and writes what they produce (recorded series, ALERTS) back to the database."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from syntraf_ctl.lab.tsdb import export

PRODUCED = '{__name__=~"ALERTS|ALERTS_FOR_STATE|.+:.+"}'  # alert states and recorded series (`a:b:c`)
LONGEST_INTERVAL_S = 60  # evaluations are aligned to the group's interval: up to one before `start`


def binary() -> str:
    path = shutil.which("vmalert")
    if path is None:
        pytest.skip("vmalert is not installed (scripts/setup.sh installs victoria-metrics)")
    return path


def replay(rules: Path, url: str, start: float, end: float, timeout: float = 60) -> str:
    """Replay `rules` over [start, end]; return once every sample vmalert wrote is searchable (a series the
    database has just created can take a moment to show in searches: reading at once lost whole alerts),
    with the errors and warnings vmalert logged."""

    def rfc3339(seconds: float) -> str:
        return datetime.fromtimestamp(int(seconds), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    before = _produced(url, start, end)
    done = subprocess.run(
        [
            binary(),
            f"-rule={rules}",
            f"-datasource.url={url}",
            f"-remoteWrite.url={url}",
            f"-replay.timeFrom={rfc3339(start)}",
            f"-replay.timeTo={rfc3339(end)}",
            "-datasource.queryStep=0s",  # the group's interval (the default, 5m, would skip evaluations)
            "-replay.disableProgressBar",
            "-loggerLevel=INFO",  # for "Imported N samples"
        ],
        check=True,
        capture_output=True,
        timeout=300,
        text=True,
    )
    imported = re.search(r"replay finished! Imported (\d+) samples", done.stderr)
    assert imported, done.stderr
    deadline = time.monotonic() + timeout
    while (found := _produced(url, start, end) - before) < int(imported.group(1)):
        assert time.monotonic() < deadline, f"vmalert wrote {imported.group(1)} samples, {found} searchable"
        time.sleep(0.5)
    return "\n".join(line for line in done.stderr.splitlines() if re.search(r"\t(error|warn)\t", line))


def _produced(url: str, start: float, end: float) -> int:
    """Samples of vmalert's series in the stretch of a replay over [start, end]."""
    series = export(url, PRODUCED, start=start - LONGEST_INTERVAL_S)
    return sum(1 for item in series for t, _ in item.points if t <= end)
