"""The probe refuses, with exit 2 and the key named, what its bounds (syntraf_probe.bounds) do not allow."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from labkit import config, edge

ADDRESSES = {"a": "198.51.100.11", "b": "198.51.100.12"}


def run_probe(tmp_path, cfg: dict) -> tuple[int, str]:
    path = tmp_path / "g.json"
    path.write_text(json.dumps(cfg))  # json writes NaN and Infinity, as a damaged config could hold
    result = subprocess.run(
        [sys.executable, "-m", "syntraf_probe", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert "Traceback" not in result.stderr
    return result.returncode, result.stderr


@pytest.mark.parametrize(
    ("over", "fragment"),
    [
        ({"bandwidth_bps": 0}, "edges[0].bandwidth_bps: 0 is outside"),
        ({"bandwidth_bps": 200_000_000_000}, "edges[0].bandwidth_bps: 200000000000 is outside"),
        ({"packets_per_second": 0.0}, "edges[0].packets_per_second: 0 is outside"),
        ({"packets_per_second": float("nan")}, "edges[0].packets_per_second: expected a finite number"),
        ({"interval": float("inf")}, "edges[0].interval: expected a finite number"),
    ],
)
def test_edge_values_outside_the_bounds_exit_2(tmp_path, over, fragment):
    cfg = config(tmp_path, "b", "g", [edge(ADDRESSES, "g", "a", "b", 15001, **over)], "http://127.0.0.1:1")
    code, stderr = run_probe(tmp_path, cfg)
    assert code == 2
    assert fragment in stderr


@pytest.mark.parametrize(
    "url", ["http://influx:8086\nX-Evil: 1", "http://influx host:8086", "https://h:99999", "http://:8086"]
)
def test_an_invalid_url_is_a_config_error_not_a_transient_failure(tmp_path, url):  # PR5, D4
    code, stderr = run_probe(tmp_path, config(tmp_path, "b", "g", [], url))
    assert code == 2
    assert "key databases[0].url" in stderr


def test_a_token_with_a_line_break_is_a_config_error(tmp_path):  # PR6
    cfg = config(tmp_path, "b", "g", [], "http://127.0.0.1:1")
    (tmp_path / "token").write_text("first-line\nsecond-line\n")
    code, stderr = run_probe(tmp_path, cfg)
    assert code == 2
    assert "line break" in stderr
    assert "first-line" not in stderr


def test_spool_bounds_are_the_controllers(tmp_path):  # C14: 2000000000000 passed syntraf-ctl only
    cfg = config(tmp_path, "b", "g", [], "http://127.0.0.1:1")
    cfg["spool"]["max_bytes"] = 2_000_000_000_000
    code, stderr = run_probe(tmp_path, cfg)
    assert code == 2
    assert "spool.max_bytes: 2000000000000 is outside 1048576-1099511627776 bytes" in stderr
