"""A real InfluxDB for the WAN lab's truth checks (tests, soak): Debian's influxd 1.x, behind a small shim
that takes the probe's InfluxDB v2 writes (`POST /api/v2/write?bucket=...&precision=ms`) and passes them on
to the 1.x write API.

Why: the probe takes outage points back by writing the same point again (docs/metrics.md, "holds"), and
only a database that keeps the last write of a point (InfluxDB does, per field) returns what the probe
meant. The lab's VictoriaMetrics keeps one of two writes at one timestamp, not always the last.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from syntraf_ctl.lab.lab_inventory import update_settings
from syntraf_ctl.lab.state import LabState
from tests.support import wan_ledger as ledger

DATABASE = "syntraf"
FIELDS = ("up", "lost", "packets", "out_of_order")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _config(directory: Path, http: int, rpc: int) -> str:
    return f"""reporting-disabled = true
bind-address = "127.0.0.1:{rpc}"
[meta]
  dir = "{directory}/meta"
[data]
  dir = "{directory}/data"
  wal-dir = "{directory}/wal"
  query-log-enabled = false
[http]
  bind-address = "127.0.0.1:{http}"
  log-enabled = false
[monitor]
  store-enabled = false
"""


class _Shim(BaseHTTPRequestHandler):
    """v2 write -> 1.x write; the token is dropped (the 1.x database runs without authentication)."""

    influx = ""

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        if url.path != "/api/v2/write":
            self._reply(404)
            return
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        target = {"db": query.get("bucket", [DATABASE])[0], "precision": query.get("precision", ["ns"])[0]}
        encoding = self.headers.get("Content-Encoding")
        headers = {"Content-Encoding": encoding} if encoding else {}
        request = urllib.request.Request(
            f"{self.influx}/write?{urllib.parse.urlencode(target)}", data=body, headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                self._reply(response.status)
        except urllib.error.HTTPError as error:
            self._reply(error.code, error.read())
        except OSError:  # influxd busy or stopping: the probe keeps the points and retries
            self._reply(503)

    def do_GET(self) -> None:  # noqa: N802
        self._reply(200, b'{"status":"pass"}' if self.path == "/health" else b"")

    def _reply(self, status: int, body: bytes = b"") -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass  # a request line carries no secret, but the test output is not the place for it


class InfluxLab:
    """The running database: `url` for the probes (the shim), `stored` for the tests."""

    def __init__(self, url: str, influx: str) -> None:
        self.url, self.influx = url, influx

    def points(
        self, measurement: str, fields: tuple[str, ...], since: float, until: float
    ) -> dict[ledger.EdgeKey, list[dict]]:
        """Per edge, the points stamped in [since, until] as InfluxDB keeps them: {"time": s, field: v}."""
        names = ", ".join(f'"{field}"' for field in fields)
        reply = _query(
            self.influx,
            f'SELECT {names} FROM "{measurement}" WHERE time >= {int(since * 1000)}ms '
            f'AND time <= {int(until * 1000)}ms GROUP BY "group", "src", "dst"',
        )
        found: dict[ledger.EdgeKey, list[dict]] = {}
        for series in reply["results"][0].get("series", []):
            tags = series["tags"]
            rows = found.setdefault((tags["group"], tags["src"], tags["dst"]), [])
            for time_ms, *values in series["values"]:
                rows.append({"time": time_ms / 1000, **dict(zip(fields, values))})
        return found

    def stored(self, since: float, until: float) -> dict[ledger.EdgeKey, ledger.Stored]:
        """As ledger.stored: what InfluxDB keeps of the points stamped in [since, until]."""
        values = [
            (key, f"syntraf_{field}", row["time"], row[field])
            for key, rows in self.points("syntraf", FIELDS, since, until).items()
            for row in rows
            for field in FIELDS
            if row[field] is not None
        ]
        return ledger.summed(values, since, until)


@contextmanager
def influxd(directory: Path) -> Iterator[str]:
    """Run Debian's influxd 1.x in `directory` on free local ports with the database `syntraf`; yield its
    URL. It stops when the block ends, also on failure."""
    binary = shutil.which("influxd")
    if binary is None:
        raise RuntimeError("influxd is not installed (apt-get install influxdb)")
    http = free_port()
    config = directory / "influxdb.conf"
    config.write_text(_config(directory, http, free_port()))
    with open(directory / "influxd.log", "wb") as log:
        process = subprocess.Popen(
            [binary, "-config", str(config)], stdin=subprocess.DEVNULL, stdout=log, stderr=log
        )
    url = f"http://127.0.0.1:{http}"
    try:
        _wait_ping(url, process)
        _query(url, f"CREATE DATABASE {DATABASE}", post=True)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


@contextmanager
def influxdb(directory: Path, listen_address: str) -> Iterator[InfluxLab]:
    """influxd in `directory` and the shim on `listen_address` (where the lab's hosts reach this machine).
    Both stop when the block ends, also on failure."""
    with influxd(directory) as influx:
        server = ThreadingHTTPServer((listen_address, 0), type("Shim", (_Shim,), {"influx": influx}))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            yield InfluxLab(f"http://{listen_address}:{server.server_address[1]}", influx)
        finally:
            server.shutdown()
            server.server_close()


def _wait_ping(url: str, process: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"influxd exited with status {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/ping", timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"influxd at {url} did not answer within {timeout:.0f} s")


def _query(url: str, text: str, post: bool = False) -> dict:
    data = urllib.parse.urlencode({"q": text, "db": DATABASE, "epoch": "ms"})
    request = f"{url}/query" + ("" if post else f"?{data}")
    with urllib.request.urlopen(request, data=data.encode() if post else None, timeout=30) as response:
        return json.loads(response.read())


def write_to_both(inventory: Path, state: LabState, database: InfluxLab) -> None:
    """Have the lab's probes write to its VictoriaMetrics and to `database`."""
    token = "{{ vault_influxdb_token }}"
    urls = (state.db_url, database.url)
    databases = [{"url": url, "org": "lab", "bucket": "syntraf", "token": token} for url in urls]
    update_settings(inventory, {"syntraf_influxdb": databases})
