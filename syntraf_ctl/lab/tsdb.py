"""The lab's time-series database: a local VictoriaMetrics, which accepts the InfluxDB v2 write API.

Points written as measurement `m` with field `f` come back from `/api/v1/export` as series `m_f` whose labels
are the point's tags.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path


class DatabaseError(RuntimeError):
    pass


@dataclass(frozen=True)
class Series:
    name: str
    labels: dict[str, str]
    points: list[tuple[float, float]]  # (unix seconds, value), oldest first


def start_victoria_metrics(data_dir: Path, listen: str, log_path: Path) -> subprocess.Popen:
    """Start VictoriaMetrics in its own session (it can outlive the caller) and wait until it is healthy."""
    binary = shutil.which("victoria-metrics")
    if binary is None:
        raise DatabaseError("victoria-metrics is not installed (apt-get install victoria-metrics)")
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [
                binary,
                f"-storageDataPath={data_dir}",
                f"-httpListenAddr={listen}",
                "-retentionPeriod=7d",
                "-search.latencyOffset=1s",
                # A point re-sent (spool replay, retried write) is stored once, as InfluxDB overwrites it.
                "-dedup.minScrapeInterval=1ms",
                "-loggerLevel=WARN",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    url = f"http://{listen}"
    try:
        wait_healthy(url, process=process)
    except DatabaseError as error:
        process.kill()
        process.wait()
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-5:])
        raise DatabaseError(f"{error}:\n{tail}") from None
    return process


def wait_healthy(url: str, timeout: float = 20.0, process: subprocess.Popen | None = None) -> None:
    """Wait until the database at `url` answers; give up early if `process` (the database) has exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise DatabaseError(f"VictoriaMetrics for {url} exited with status {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.read().strip() == b"OK":
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise DatabaseError(f"VictoriaMetrics at {url} did not become healthy within {timeout:.0f} s")


def flush(url: str) -> None:
    """Make every point received so far searchable now (otherwise that takes a few seconds)."""
    with urllib.request.urlopen(f"{url}/internal/force_flush", timeout=10) as response:
        response.read()


def export(url: str, match: str = '{__name__=~"syntraf.*"}', start: float | None = None) -> list[Series]:
    """Every raw sample of the matching series (fresh data included, unlike instant queries)."""
    flush(url)
    query = [("match[]", match)] + ([("start", f"{start:.3f}")] if start is not None else [])
    body = urllib.parse.urlencode(query).encode()
    with urllib.request.urlopen(f"{url}/api/v1/export", data=body, timeout=30) as response:
        lines = response.read().decode().splitlines()
    series = []
    for line in lines:
        item = json.loads(line)
        labels = dict(item["metric"])
        name = labels.pop("__name__")
        points = sorted(zip((t / 1000 for t in item["timestamps"]), item["values"]))
        series.append(Series(name, labels, points))
    return series
