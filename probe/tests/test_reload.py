"""SIGHUP reloads of a running probe process (no database: its writes fail and go to the spool)."""

from __future__ import annotations

import shutil
import socket

import pytest
from labkit import ProbeProcess, config, edge, wait_for

pytestmark = pytest.mark.skipif(shutil.which("iperf3") is None, reason="iperf3 is not installed")


def test_a_reload_to_an_unusable_spool_keeps_the_running_revision(tmp_path):
    """Bad-input review PR10: the reload killed the probe although it promises to keep the old revision."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    local = {"a": "127.0.0.1", "b": "127.0.0.1"}
    cfg = config(tmp_path, "b", "g", [edge(local, "g", "a", "b", port, "forward")], "http://127.0.0.1:1")
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
