"""SIGHUP reloads of a running probe process (no database: its writes fail and go to the spool)."""

from __future__ import annotations

import shutil
import socket

import pytest
from labkit import ProbeProcess, config, edge, wait_for

pytestmark = pytest.mark.skipif(shutil.which("iperf3") is None, reason="iperf3 is not installed")
LOCAL = {"a": "127.0.0.1", "b": "127.0.0.1"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_reload_to_an_unusable_spool_keeps_the_running_revision(tmp_path):
    """Bad-input review PR10: the reload killed the probe although it promises to keep the old revision."""
    cfg = config(
        tmp_path, "b", "g", [edge(LOCAL, "g", "a", "b", free_port(), "forward")], "http://127.0.0.1:1"
    )
    probe = ProbeProcess(tmp_path, cfg)
    try:
        wait_for(lambda: (tmp_path / "b.state.json").exists(), 20, what="the first state file")
        (tmp_path / "file").write_text("")
        bad = {
            **cfg,
            "revision": "rev2",
            "spool": {**cfg["spool"], "directory": str(tmp_path / "file" / "s")},
        }
        probe.reload(bad)
        wait_for(lambda: "reload refused" in probe.log_text(), 20, what="the reload to be refused")
        assert probe.process.poll() is None
        assert f"spool.directory {tmp_path / 'file' / 's'}" in probe.log_text()
        wait_for(lambda: probe.state()["revision"] == "rev1", 5, what="the state file")
    finally:
        assert probe.stop() == 0


def test_a_reload_that_adds_a_database_keeps_every_spooled_point_once(tmp_path):
    """Review 6: the new spool was scanned before the old sink's last flush, whose lines its accounting
    then missed, and both used the same next segment number."""
    # no database answers: everything spools; the edge makes the probe flush twice a second
    cfg = config(
        tmp_path, "b", "g", [edge(LOCAL, "g", "a", "b", free_port(), "forward")], "http://127.0.0.1:1"
    )
    probe = ProbeProcess(tmp_path, cfg)
    try:
        state = tmp_path / "b.state.json"
        wait_for(lambda: state.exists() and probe.state()["health"]["spool_points"] >= 2, 60, what="spooling")
        second = {**cfg["databases"][0], "name": "second"}
        probe.reload({**cfg, "revision": "rev2", "databases": [cfg["databases"][0], second]})
        wait_for(lambda: probe.state()["revision"] == "rev2", 30, step=1, what="the reload")
        wait_for(lambda: probe.state()["health"]["spool_points"] >= 6, 60, step=1, what="more points")
    finally:
        assert probe.stop() == 0
    spooled = {
        name: sum(path.read_text().count("\n") for path in (tmp_path / "spool-b" / name).glob("*.lp"))
        for name in ("vm", "second")
    }
    assert probe.state()["health"]["spool_points"] == spooled["vm"] + spooled["second"]
    lines = [
        line for path in (tmp_path / "spool-b" / "vm").glob("*.lp") for line in path.read_text().splitlines()
    ]
    assert len(lines) == len(set(lines)) and spooled["second"] < spooled["vm"]
