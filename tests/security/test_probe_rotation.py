"""The probe's side of a key rotation, with real iperf3 on loopback: one edge, its listener's and its
initiator's EdgeRunner in one event loop, the files of each rotation phase written as Ansible does (a new
file renamed over the old one), in the order that is hardest for the listener (its new key arrives first).
Every interval is measured, the listener restarts with its new key, nothing is refused for long."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import time
from pathlib import Path

import pytest
from syntraf_probe.atomic_write import write_atomically
from syntraf_probe.config import SCHEMA, parse_config
from syntraf_probe.edge_runner import EdgeRunner
from syntraf_probe.iperf3 import detect_version
from syntraf_probe.keys import file_stamp

from syntraf_ctl.auth import store as auth_store
from syntraf_ctl.auth.scope import host_files

IPERF3 = shutil.which("iperf3")
pytestmark = pytest.mark.skipif(IPERF3 is None, reason="iperf3 is not installed")
PAIRS = {("L", "I")}
INTERVAL = 1.0


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _config(tmp: Path, host: str, port: int, mode: str) -> dict:
    """Listener L, initiator I; reverse: L sends to I (I measures), forward: I sends to L (L measures)."""
    auth = tmp / host
    local = "127.0.0.1"
    src, dst = ("L", "I") if mode == "reverse" else ("I", "L")
    edge = {"group": "g", "src": src, "dst": dst, "listener": "L", "initiator": "I", "mode": mode,
            "port": port, "connect_address": local, "src_address": local, "dst_address": local,
            "bandwidth_bps": 20000, "packet_size": 100, "packets_per_second": 25, "dscp": 0,
            "interval": INTERVAL, "pkcs1_padding": False}  # fmt: skip
    return {
        "schema": SCHEMA, "revision": "r", "host": host, "group": "g", "address": "127.0.0.1",
        "iperf3": {"binary": IPERF3, "test_duration": 3, "connect_timeout_ms": 3000},
        "auth": {"time_skew_threshold": 10, "private_key_path": str(auth / "listener.pem"),
                 "authorized_users_path": str(auth / "users.csv"), "username": host,
                 "public_keys_dir": str(auth / "peers")},
        "edges": [edge], "databases": [],
        "spool": {"directory": str(tmp / "spool"), "max_bytes": 1 << 20},
        "state_path": str(tmp / f"{host}.state.json"), "log_level": "info",
    }  # fmt: skip


def _deploy(tmp: Path, store: auth_store.AuthStore, host: str) -> None:
    """Write `host`'s files as Ansible's copy does (only when the content differs: a temporary file renamed
    over the target), and delete the stale ones."""
    root = tmp / host
    wanted = host_files(store, PAIRS, host)
    for relative, content in wanted.items():
        path = root / relative
        if path.exists() and path.read_text() == content:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, content.encode("utf-8"))
    for path in root.rglob("*"):
        if path.is_file() and str(path.relative_to(root)) not in wanted:
            path.unlink()


@pytest.mark.parametrize("mode", ["reverse", "forward"])
def test_rotation_phases_lose_no_interval_and_the_listener_switches_keys(tmp_path: Path, mode: str) -> None:
    """Forward mode (the sender behind NAT initiates): issue 14 saw the listener restart with its new key
    just as the initiator retried with the other one, then two 60 s configuration-error pauses."""
    store = auth_store.empty_store()
    auth_store.ensure_hosts(store, ["L", "I"])
    for host in ("L", "I"):
        _deploy(tmp_path, store, host)
    port = _port()
    configs = {
        host: parse_config(json.dumps(_config(tmp_path, host, port, mode)), host) for host in ("L", "I")
    }
    version = detect_version(IPERF3)
    samples, phases = [], set()
    keep = samples.extend

    async def scenario() -> tuple[EdgeRunner, EdgeRunner, float]:
        listener = EdgeRunner(configs["L"], configs["L"].edges[0], version, lambda e, s: keep(s))
        initiator = EdgeRunner(configs["I"], configs["I"].edges[0], version, lambda e, s: keep(s))
        listener.start()
        await asyncio.sleep(0.5)
        initiator.start()

        async def run_for(seconds: float) -> None:
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                now = time.monotonic()
                listener.tick(now)
                initiator.tick(now)
                phases.update((listener.phase, initiator.phase))
                await asyncio.sleep(0.1)

        await run_for(4)
        started = time.time()
        auth_store.begin_rotation(store)
        _deploy(tmp_path, store, "L")
        _deploy(tmp_path, store, "I")
        await run_for(4)
        auth_store.switch_rotation(store)
        _deploy(
            tmp_path, store, "L"
        )  # the listener first: the initiator's old key is refused until it has both
        await run_for(4)
        _deploy(tmp_path, store, "I")
        await run_for(5)
        auth_store.finish_rotation(store)
        _deploy(tmp_path, store, "L")
        _deploy(tmp_path, store, "I")
        await run_for(5)
        ended = time.time()
        await initiator.stop()
        await listener.stop()
        return listener, initiator, started, ended

    listener, initiator, started, ended = asyncio.run(scenario())
    window = [sample for sample in samples if started <= sample.time <= ended]
    # No interval without a sample: every gap, the window's ends included, under 2 intervals (a lost interval
    # makes one of 2 or more). Each test boundary, every 3 s, adds the new iperf3's setup time to one gap
    # without losing an interval: under load that was over half an interval, so neither counting samples
    # against the window's length nor gaps under 1.5 intervals held.
    times = [started, *(sample.time for sample in window), ended]
    assert all(sample.up == 1 for sample in window), [(s.time - started, s.up) for s in window]
    gaps = [round(b - a, 2) for a, b in zip(times, times[1:])]
    assert max(gaps) < 2 * INTERVAL, gaps
    assert listener.key_stamp == file_stamp(str(tmp_path / "L/listener.pem"))  # restarted with the new key
    assert sorted(p.name for p in (tmp_path / "I/peers").iterdir()) == ["L.password", "L.pem"]
    assert "config_error" not in phases
