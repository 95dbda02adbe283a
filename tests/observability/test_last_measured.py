"""The "last measured" query docs/metrics.md gives for rotating groups, run as written against a real
VictoriaMetrics holding points of known times."""

from __future__ import annotations

import json
import re
import shutil
import socket
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from syntraf_ctl.lab.tsdb import flush, start_victoria_metrics

DOC = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"


def documented_query() -> str:
    """The MetricsQL line of the doc's "When each pair was last measured" section."""
    section = DOC.read_text().split("### When each pair was last measured", 1)[1]
    return re.search(r"^tlast_over_time\(.*\)$", section, re.MULTILINE).group(0)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def line(group: str, src: str, dst: str, seconds: int) -> str:
    return f"syntraf,group={group},src={src},dst={dst} packets=50i,lost=0i,up=1i {seconds * 1000}"


def test_the_documented_query_gives_each_pairs_last_point(tmp_path: Path) -> None:
    if shutil.which("victoria-metrics") is None:
        pytest.skip("victoria-metrics is not installed (scripts/setup.sh installs it)")
    end = int(time.time()) - 60
    last = {("b", "a"): end - 600, ("c", "a"): end - 60}  # c -> a ran twice, b -> a once, d -> a 3 h ago
    lines = [line("ring", src, dst, at) for (src, dst), at in last.items()]
    lines += [line("ring", "c", "a", end - 1200), line("ring", "d", "a", end - 3 * 3600)]
    lines += [line("other", "b", "a", end - 10)]  # another group's, more recent
    url = f"http://127.0.0.1:{free_port()}"
    database = start_victoria_metrics(tmp_path / "data", url.removeprefix("http://"), tmp_path / "vm.log")
    try:
        body = "\n".join(lines).encode()
        urllib.request.urlopen(
            urllib.request.Request(f"{url}/write?precision=ms", data=body), timeout=30
        ).read()
        flush(url)
        query = urllib.parse.urlencode({"query": documented_query(), "time": end})
        with urllib.request.urlopen(f"{url}/api/v1/query?{query}", timeout=30) as response:
            result = json.loads(response.read())["data"]["result"]
    finally:
        database.kill()
        database.wait()
    found = {(item["metric"]["src"], item["metric"]["dst"]): float(item["value"][1]) for item in result}
    assert found == last
