"""Load benchmark: one syntraf-probe with 63 receiving and 63 sending edges on loopback, VoIP profile.

The probe under test is host `p` (127.0.0.2). Its 63 peers are the other ends of its edges, run here as
plain iperf3 processes (a listener per edge p receives, a `-R` client loop per edge p sends): exactly the
commands a peer's probe would run, without 63 more Python supervisors competing for the 2 cores.
A local VictoriaMetrics receives the points. Prints the supervisor's and the total (with its iperf3
children) RSS and CPU, per-edge CPU, and the delay from an interval's end to its point being readable.

    sudo .venv/bin/python bench/probe_load.py [--seconds 60] [--peers 63] [--rotating K]

With --rotating K the group is a rotating one (docs/inventory.md, "Topologies"): p has the same edges but
its schedule runs K out and K in at a time (one-hour epochs: no switch during the run).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

from syntraf_probe.config import SCHEMA

PROBE = "127.0.0.2"
PEER = "127.0.0.3"
PROFILE = {"bandwidth_bps": 68800, "packet_size": 172, "packets_per_second": 50, "dscp": 46, "interval": 1.0}
TICKS = os.sysconf("SC_CLK_TCK")


def edge(src: str, dst: str, port: int) -> dict:
    listener = src  # reverse mode: the receiver starts the test against the sender's listener
    return {
        "group": "bench",
        "src": src,
        "dst": dst,
        "listener": listener,
        "initiator": dst,
        "mode": "reverse",
        "port": port,
        "connect_address": PROBE if listener == "p" else PEER,
        "src_address": PROBE if src == "p" else PEER,
        "dst_address": PROBE if dst == "p" else PEER,
        "pkcs1_padding": False,
        **PROFILE,
    }


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def children(pid: int) -> list:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, ValueError, IndexError):
                continue
    return found


def snapshot(pid: int) -> dict:
    kids = children(pid)
    kid_cpu = kid_rss = 0.0
    for kid in kids:
        try:
            kid_cpu += cpu_seconds(kid)
            kid_rss += rss_mb(kid)
        except OSError:
            continue
    return {
        "cpu": cpu_seconds(pid),
        "rss": rss_mb(pid),
        "kid_cpu": kid_cpu,
        "kid_rss": kid_rss,
        "kids": len(kids),
    }


def export_times(url: str, start: float) -> dict:
    query = urllib.parse.urlencode(
        [("match[]", '{__name__="syntraf_up",group="bench"}'), ("start", f"{start}")]
    )
    with urllib.request.urlopen(f"{url}/api/v1/export", data=query.encode(), timeout=10) as response:
        lines = response.read().decode().splitlines()
    seen = {}
    for text in lines:
        item = json.loads(text)
        key = (item["metric"]["src"], item["metric"]["dst"])
        for stamp in item["timestamps"]:
            seen[(key, stamp)] = stamp / 1000
    return seen


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--peers", type=int, default=63)
    parser.add_argument("--warmup", type=float, default=10)
    parser.add_argument("--rotating", type=int, default=0, metavar="K", help="peers at a time (0: full)")
    args = parser.parse_args()
    for tool in ("iperf3", "victoria-metrics"):
        if shutil.which(tool) is None:
            print(f"{tool} is not installed", file=sys.stderr)
            return 2
    work = Path(tempfile.mkdtemp(prefix=f"syntraf-bench-{os.getpid()}-"))
    processes: list = []
    port_base = 30000 + os.getpid() % 10000
    listen = f"127.0.0.1:{port_base}"
    url = f"http://{listen}"
    try:
        vm = subprocess.Popen(
            [
                "victoria-metrics",
                f"-storageDataPath={work / 'vm'}",
                f"-httpListenAddr={listen}",
                "-loggerLevel=ERROR",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        processes.append(vm)
        peers = [f"peer{i:02d}" for i in range(1, args.peers + 1)]
        edges = []
        for i, peer in enumerate(peers, 1):
            edges.append(edge(peer, "p", port_base + i))  # p receives: peer listens
            edges.append(edge("p", peer, port_base + 100 + i))  # p sends: p listens, peer runs -R
        (work / "token").write_text("bench\n")
        config = {
            "schema": SCHEMA,
            "revision": "bench",
            "host": "p",
            "group": "bench",
            "address": PROBE,
            "iperf3": {"binary": shutil.which("iperf3"), "test_duration": 3600, "connect_timeout_ms": 3000},
            "auth": None,
            "edges": edges,
            "databases": [
                {
                    "name": "vm",
                    "url": url,
                    "org": "bench",
                    "bucket": "bench",
                    "token_path": str(work / "token"),
                    "ca_path": None,
                    "verify_tls": True,
                }
            ],
            "spool": {"directory": str(work / "spool"), "max_bytes": 64 << 20},
            "state_path": str(work / "state.json"),
            "log_level": "warning",
        }
        if args.rotating:
            members = sorted(["p", *peers])
            config["schedule"] = {
                "epoch_seconds": 3600,
                "origin": 0,
                "peers": args.rotating,
                "members": members,
            }
        (work / "p.json").write_text(json.dumps(config))
        iperf3 = shutil.which("iperf3")
        quiet = {"stdin": subprocess.DEVNULL, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        for i in range(1, args.peers + 1):
            processes.append(subprocess.Popen([iperf3, "-s", "-p", str(port_base + i), "-B", PEER], **quiet))
        time.sleep(1)
        probe = subprocess.Popen(
            [sys.executable, "-m", "syntraf_probe", "--config", str(work / "p.json")],
            stdin=subprocess.DEVNULL,
            stderr=open(work / "probe.log", "ab"),  # noqa: SIM115 (lives as long as the benchmark)
        )
        processes.append(probe)
        time.sleep(1)
        pacing = str(int(1_000_000 / PROFILE["packets_per_second"]))
        for i in range(1, args.peers + 1):
            loop = (
                f"while true; do {iperf3} -c {PROBE} -p {port_base + 100 + i} -u -b 68800 -l 172 -t 3600 -i 1"
                f" --dscp 46 --pacing-timer {pacing} -R --rcv-timeout 2000 --forceflush; sleep 0.5; done"
            )
            processes.append(subprocess.Popen(["sh", "-c", loop], start_new_session=True, **quiet))
        time.sleep(args.warmup)
        start_wall = time.time()
        first = snapshot(probe.pid)
        t0 = time.monotonic()
        first_seen: dict = {}
        max_rss = max_total_rss = 0.0
        while time.monotonic() - t0 < args.seconds:
            now = time.time()
            for key, stamp in export_times(url, start_wall).items():
                first_seen.setdefault(key, (stamp, now))
            current = snapshot(probe.pid)
            max_rss = max(max_rss, current["rss"])
            max_total_rss = max(max_total_rss, current["rss"] + current["kid_rss"])
            time.sleep(0.25)
        last = snapshot(probe.pid)
        elapsed = time.monotonic() - t0
        supervisor = 100 * (last["cpu"] - first["cpu"]) / elapsed
        total = supervisor + 100 * (last["kid_cpu"] - first["kid_cpu"]) / elapsed
        delays = sorted(seen - stamp for stamp, seen in first_seen.values() if stamp > start_wall + 2)
        state = json.loads((work / "state.json").read_text())
        measuring = sum(e["state"] in ("measuring", "sending") for e in state["edges"])
        print(
            f"edges: {len(edges)} ({args.peers} receiving, {args.peers} sending),"
            f" iperf3 children: {last['kids']}"
        )
        print(f"edges measuring or sending at the end: {measuring}/{len(edges)}; window {elapsed:.0f} s")
        print(f"supervisor RSS: {last['rss']:.1f} MB (max {max_rss:.1f} MB)")
        print(
            f"total RSS with iperf3 children: {last['rss'] + last['kid_rss']:.1f} MB"
            f" (max {max_total_rss:.1f} MB)"
        )
        print(f"supervisor CPU: {supervisor:.2f} % of one core")
        print(f"total CPU: {total:.2f} % of one core; per edge {total / len(edges):.3f} %")
        if delays:
            p95 = delays[min(len(delays) - 1, int(0.95 * len(delays)))]
            print(
                f"delivery delay (interval end -> readable, polled every 0.25 s): median "
                f"{statistics.median(delays):.2f} s, p95 {p95:.2f} s, max {delays[-1]:.2f} s,"
                f" {len(delays)} points"
            )
        else:
            print("delivery delay: no points were read back")
        print(f"health: {state['health']}")
        return 0
    finally:
        for process in reversed(processes):
            try:
                if process.args[0] == "sh":
                    os.killpg(process.pid, signal.SIGTERM)
                else:
                    process.send_signal(signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                pass
        for process in processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
