"""Run the real vmalert once over stored points (replay mode): it evaluates rule files over [start, end] at
each group's interval and writes what they produce (recorded series, ALERTS) back to the database."""

from __future__ import annotations

import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest


def binary() -> str:
    path = shutil.which("vmalert")
    if path is None:
        pytest.skip("vmalert is not installed (scripts/setup.sh installs victoria-metrics)")
    return path


def replay(rules: Path, url: str, start: float, end: float) -> None:
    def rfc3339(seconds: float) -> str:
        return datetime.fromtimestamp(int(seconds), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    subprocess.run(
        [
            binary(),
            f"-rule={rules}",
            f"-datasource.url={url}",
            f"-remoteWrite.url={url}",
            f"-replay.timeFrom={rfc3339(start)}",
            f"-replay.timeTo={rfc3339(end)}",
            "-datasource.queryStep=0s",  # the group's interval (the default, 5m, would skip evaluations)
            "-replay.disableProgressBar",
            "-loggerLevel=ERROR",
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
