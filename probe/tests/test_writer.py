"""The probe's writes against a database that fails: a real VictoriaMetrics behind a fault-injecting proxy.

The proxy is a fake on purpose: VictoriaMetrics never rejects a token, never answers 429/503 and never
stalls, so the only way to see the probe handle those answers is to inject them in front of it.
"""

from __future__ import annotations

import http.server
import os
import shutil
import threading
import time
import urllib.request
from typing import Optional

import pytest
from labkit import ProbeProcess, config, edge, gaps, wait_for

from syntraf_ctl.lab.tsdb import export, start_victoria_metrics

TOKEN = "test-token-not-secret"


class FaultProxy:
    """Forwards POSTs to the database, or answers `mode`: an HTTP status, or "stall" (no answer)."""

    def __init__(self, upstream: str) -> None:
        self.mode = "pass"
        self.requests: dict = {}
        self.max_lines: Optional[int] = None  # larger requests get 413, as from a proxy's body limit
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                mode = proxy.mode
                if mode == "pass" and proxy.max_lines and body.count(b"\n") + 1 > proxy.max_lines:
                    mode = "413"
                proxy.requests[mode] = proxy.requests.get(mode, 0) + 1
                if mode == "stall":
                    time.sleep(12)  # longer than the probe's request timeout
                    self.close_connection = True
                    return
                if mode != "pass":
                    self.send_response(int(mode))
                    self.send_header("Content-Length", "18")
                    self.end_headers()
                    self.wfile.write(b'{"message":"fake"}')
                    return
                request = urllib.request.Request(upstream + self.path, data=body, method="POST")
                with urllib.request.urlopen(request, timeout=10) as response:
                    status, answer = response.status, response.read()
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxied(tmp_path):
    if shutil.which("victoria-metrics") is None or shutil.which("iperf3") is None:
        pytest.skip("needs victoria-metrics and iperf3 installed")
    listen = f"127.0.0.1:{22000 + os.getpid() % 20000}"
    database = start_victoria_metrics(tmp_path / "vm", listen, tmp_path / "vm.log")
    proxy = FaultProxy(f"http://{listen}")
    # one receiving edge whose sender never connects (a forward-mode listener nobody reaches, which the
    # receiver cannot tell from a network failure): outage points every second, plus the health points
    addresses = {"a": "127.0.0.1", "b": "127.0.0.1"}
    port = 42000 + os.getpid() % 20000
    cfg = config(tmp_path, "b", "faults", [edge(addresses, "faults", "a", "b", port, "forward")], proxy.url)
    probe = ProbeProcess(tmp_path, cfg)
    try:
        yield probe, proxy, f"http://{listen}"
    finally:
        probe.stop()
        proxy.close()
        database.kill()
        database.wait()


def health_times(url: str, start: float) -> list:
    series = export(url, '{__name__="syntraf_probe_edges_configured",group="faults"}', start)
    return [t for s in series for t, _ in s.points]


def test_429_503_and_a_stall_are_spooled_then_delivered_once(proxied):
    probe, proxy, url = proxied
    start = time.time()
    wait_for(lambda: health_times(url, start), 20, what="first health point")
    for mode, seconds in (("429", 3), ("503", 6), ("stall", 1)):
        proxy.mode = mode
        time.sleep(seconds)
    time.sleep(11)  # the stalled request times out after 10 s
    proxy.mode = "pass"
    end = time.time()
    wait_for(lambda: probe.state()["health"]["spool_points"] == 0, 60, what="the spool to drain")
    time.sleep(2)
    times = [t for t in health_times(url, start) if t < end]
    assert len(times) == len(set(times)), "a point was written twice"
    assert all(gap <= 1.5 for gap in gaps(times)), gaps(times)
    assert times[-1] > end - 2
    assert proxy.requests.get("503", 0) >= 1 and proxy.requests.get("429", 0) >= 1
    assert probe.state()["health"]["write_errors"] >= 3
    assert probe.state()["health"]["dropped_points"] == 0
    outages = export(url, '{__name__="syntraf_up",group="faults"}', start)[0].points
    stamps = [t for t, _ in outages]
    assert len(stamps) == len(set(stamps)) and {v for _, v in outages} == {0}


def answer_for_six_seconds(proxied, status: str) -> tuple:
    """After the first health point, the proxy answers `status` for 6 s; (from, until) wall times."""
    probe, proxy, url = proxied
    wait_for(lambda: health_times(url, time.time() - 5), 20, what="first health point")
    proxy.mode = status
    refused_from = time.time()
    time.sleep(6)
    proxy.mode = "pass"
    return refused_from, time.time()


def test_a_request_too_large_is_split_and_nothing_is_lost(proxied):
    probe, proxy, url = proxied
    start = time.time()
    wait_for(lambda: health_times(url, start), 20, what="first health point")
    proxy.mode = "503"
    time.sleep(8)  # a spool segment of some 30 lines builds up
    proxy.max_lines, proxy.mode = 4, "pass"
    end = time.time()
    wait_for(lambda: probe.state()["health"]["spool_points"] == 0, 60, what="the spool to drain")
    time.sleep(2)
    assert proxy.requests.get("413", 0) >= 1 and probe.state()["health"]["dropped_points"] == 0
    times = [t for t in health_times(url, start) if t < end]
    assert len(times) == len(set(times)) and all(gap <= 1.5 for gap in gaps(times)), gaps(times)


@pytest.mark.parametrize("status", ["401", "404"])
def test_an_unauthorized_or_missing_database_keeps_the_points_and_delivers_them_later(proxied, status):
    """A token being rotated, a proxy restarting: no data is lost, and retries back off."""
    probe, proxy, url = proxied
    refused_from, refused_until = answer_for_six_seconds(proxied, status)
    wait_for(lambda: probe.state()["health"]["spool_points"] == 0, 60, what="the spool to drain")
    time.sleep(2)
    assert proxy.requests[status] <= 6 / 1.0 + 2  # backoff from 1 s, not one request per flush
    assert probe.state()["health"]["dropped_points"] == 0
    times = [t for t in health_times(url, refused_from - 5) if refused_from < t < refused_until]
    assert all(gap <= 1.5 for gap in gaps(times)) and times[-1] > refused_until - 1.5
    assert f"HTTP {status}" in probe.log_text() and TOKEN not in probe.log_text()


@pytest.mark.parametrize("status", ["400"])
def test_a_malformed_request_is_dropped_not_retried_forever(proxied, status):
    probe, proxy, url = proxied
    start = time.time()
    refused_from, refused_until = answer_for_six_seconds(proxied, status)
    time.sleep(4)
    # one request per flush (twice per 1 s interval: syntraf_probe.app.flush_interval), no retry storm,
    # nothing kept for later
    assert proxy.requests[status] <= 6 / 0.5 + 2
    health = probe.state()["health"]
    assert health["spool_points"] == 0 and health["dropped_points"] > 0
    times = health_times(url, start)
    assert not [t for t in times if refused_from + 1 < t < refused_until - 1]
    assert [t for t in times if t > refused_until + 1]
    log = probe.log_text()
    assert f"the database refused the write as malformed: HTTP {status}" in log
    assert TOKEN not in log
