"""Helpers for the probe's tests: configs, probe processes, reading points back from VictoriaMetrics."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Optional

from syntraf_probe.atomic_write import write_atomically
from syntraf_probe.config import SCHEMA

from syntraf_ctl.lab.tsdb import export


def edge(addresses: dict, group: str, src: str, dst: str, port: int, mode: str = "reverse", **over) -> dict:
    listener, initiator = (src, dst) if mode == "reverse" else (dst, src)
    item = {
        "group": group,
        "src": src,
        "dst": dst,
        "listener": listener,
        "initiator": initiator,
        "mode": mode,
        "port": port,
        "connect_address": addresses[listener],
        "src_address": addresses[src],
        "dst_address": addresses[dst],
        "bandwidth_bps": 68800,
        "packet_size": 172,
        "packets_per_second": 50,
        "dscp": 46,
        "interval": 1.0,
        "pkcs1_padding": False,
    }
    item.update(over)
    return item


def config(
    tmp: Path,
    host: str,
    group: str,
    edges: list,
    db_url: str,
    address: str = "127.0.0.1",
    test_duration: int = 300,
) -> dict:
    token = tmp / "token"
    token.write_text("test-token-not-secret\n")
    return {
        "schema": SCHEMA,
        "revision": "rev1",
        "host": host,
        "group": group,
        "address": address,
        "iperf3": {"binary": "/usr/bin/iperf3", "test_duration": test_duration, "connect_timeout_ms": 3000},
        "auth": None,
        "edges": [e for e in edges if host in (e["src"], e["dst"])],
        "databases": [
            {
                "name": "vm",
                "url": db_url,
                "org": "lab",
                "bucket": "syntraf",
                "token_path": str(token),
                "ca_path": None,
                "verify_tls": True,
            }
        ],
        "spool": {"directory": str(tmp / f"spool-{host}"), "max_bytes": 16 << 20},
        "state_path": str(tmp / f"{host}.state.json"),
        "log_level": "info",
    }


class ProbeProcess:
    """One `syntraf-probe` process (inside a namespace when `netns` is given)."""

    def __init__(self, tmp: Path, cfg: dict, netns: Optional[str] = None) -> None:
        self.path = tmp / f"{cfg['host']}.json"
        self.log_path = tmp / f"{cfg['host']}.log"
        self.write(cfg)
        argv = [sys.executable, "-m", "syntraf_probe", "--config", str(self.path)]
        if netns:
            argv = ["ip", "netns", "exec", netns, *argv]  # ip execs the command: the pid is the probe's
        self.log = open(self.log_path, "ab")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)

    def write(self, cfg: dict) -> None:
        write_atomically(self.path, json.dumps(cfg, indent=1).encode("utf-8"))

    def reload(self, cfg: dict) -> None:
        self.write(cfg)
        self.process.send_signal(signal.SIGHUP)

    def stop(self, timeout: float = 15) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
        return self.process.returncode

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def state(self) -> dict:
        return json.loads(
            (self.path.parent / f"{json.loads(self.path.read_text())['host']}.state.json").read_text()
        )

    def children(self) -> dict:
        """pid -> argv of this probe's iperf3 children."""
        found = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
                if ppid == self.process.pid:
                    found[int(entry.name)] = (entry / "cmdline").read_bytes().decode().split("\0")
            except (OSError, IndexError, ValueError):
                continue
        return found


def points(url: str, group: str, start: float) -> dict:
    """(src, dst) -> {field: [(time, value), ...]} for one group's syntraf points."""
    result: dict = defaultdict(dict)
    for series in export(url, f'{{__name__=~"syntraf_.*",group="{group}"}}', start):
        if series.name.startswith("syntraf_probe_"):
            continue
        key = (series.labels["src"], series.labels["dst"])
        result[key][series.name[len("syntraf_") :]] = series.points
    return result


def wait_for(predicate, timeout: float, step: float = 0.5, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def gaps(times: list) -> list:
    return [round(b - a, 3) for a, b in zip(times, times[1:])]
