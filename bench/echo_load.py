"""Echo benchmark: what the probe's echo (probe/syntraf_probe/voice.py) costs a supervisor with 63 peers,
as in bench/probe_load.py (63 receiving and 63 sending edges, a pair with each peer): one exchange per pair
at `--rate` requests per second, requested by the pair's lower uid. The probe requests from `--asked` peers
(default half, as a host in the middle of a full mesh's uids; 63: the lowest uid, 0: the highest) and
answers the others.

This process runs the probe's own Voice (the code the supervisor runs) for host `m` on 127.0.0.2; a child
process plays the 63 peers (an echo socket each, on 127.0.1.N, each at its own phase of the period, as
unsynchronised hosts send; `z..` above the probe's uid, answering it, `a..` below, requesting from it),
so only the probe's side is measured.
Prints the CPU (% of one core; user: the Python, system: the syscalls, with loopback's delivery) and the RSS
the echo adds, the echo loss, and how many round trips a point holds (the rate's trade-off, docs/metrics.md).

    .venv/bin/python bench/echo_load.py [--seconds 60] [--peers 63] [--rate 1] [--asked 32]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "probe"))

from syntraf_probe.config import SCHEMA, parse_config  # noqa: E402
from syntraf_probe.echo import EchoSocket, Reflector, Requester, echo_key, users_hash  # noqa: E402
from syntraf_probe.meter import Sample  # noqa: E402
from syntraf_probe.voice import MIN_REQUESTS, Voice  # noqa: E402

HOST = "m"
PROBE = "127.0.0.2"
PORT = 25300
PASSWORD = "bench-password"
HEARD = Sample(0.0, 68800.0, 1.5, 50, 0, 0.0, 1)  # each end's last iperf3 interval: replies copy it


def peer_address(index: int) -> str:
    return f"127.0.1.{index}"


def peer_name(index: int, asked: int) -> str:
    """The probe requests from the peers above its uid: the first `asked`."""
    return f"z{index:02d}" if index <= asked else f"a{index:02d}"


def edge(src: str, dst: str, port: int, addresses: dict[str, str]) -> dict:
    return {
        "group": "bench", "src": src, "dst": dst, "listener": src, "initiator": dst, "mode": "reverse",
        "port": port, "connect_address": addresses[src], "src_address": addresses[src],
        "dst_address": addresses[dst], "bandwidth_bps": 68800, "packet_size": 172, "packets_per_second": 50,
        "dscp": 46, "interval": 1.0, "pkcs1_padding": False,
    }  # fmt: skip


def probe_config(work: Path, peers: int, rate: float, asked: int):
    addresses = {HOST: PROBE, **{peer_name(i, asked): peer_address(i) for i in range(1, peers + 1)}}
    keys = work / "peers"
    keys.mkdir()
    users = []
    edges = []
    for i in range(1, peers + 1):
        name = peer_name(i, asked)
        (keys / f"{name}.password").write_text(PASSWORD + "\n")
        users.append(f"{name},{users_hash(name, PASSWORD)}")
        edges.append(edge(name, HOST, 20000 + i, addresses))  # the probe receives: it initiates
        edges.append(edge(HOST, name, 21000 + i, addresses))  # the probe sends: the peer initiates
    (work / "users.csv").write_text("\n".join(users) + "\n")
    (work / "token").write_text("bench\n")
    config = {
        "schema": SCHEMA, "revision": "bench", "host": HOST, "group": "bench", "address": PROBE,
        "iperf3": {"binary": "/usr/bin/iperf3", "test_duration": 3600, "connect_timeout_ms": 3000},
        "auth": {"time_skew_threshold": 10, "private_key_path": str(work / "unused.pem"),
                 "authorized_users_path": str(work / "users.csv"), "username": HOST,
                 "public_keys_dir": str(keys)},
        "edges": edges,
        "databases": [{"name": "none", "url": "http://127.0.0.1:1", "org": "b", "bucket": "b",
                       "token_path": str(work / "token"), "ca_path": None, "verify_tls": True}],
        "spool": {"directory": str(work / "spool"), "max_bytes": 1 << 20},
        "state_path": str(work / "state.json"), "log_level": "warning",
        "echo": {"port": PORT, "rate": rate, "codec": "g711"},
    }  # fmt: skip
    return parse_config(json.dumps(config), "bench.json")


def run_peers(peers: int, rate: float, seconds: float, asked: int) -> None:
    """The other ends: a peer above the probe's uid answers it, one below requests from it, each at its own
    phase of the period, as unsynchronised hosts do; read every 5 ms."""
    probe_key = echo_key(users_hash(HOST, PASSWORD))
    heard = (HEARD.jitter_ms, HEARD.loss_pct)
    sockets = []
    for i in range(1, peers + 1):
        name = peer_name(i, asked)
        echo = EchoSocket(peer_address(i), PORT, 46, Reflector({HOST: probe_key}, 2 * rate, lambda u: heard))
        if name < HOST:
            key = echo_key(users_hash(name, PASSWORD))
            echo.requesters[(PROBE, PORT)] = Requester(name, key, 46, time.time_ns() // 1000, 10**9)
        sockets.append(echo)
    start = time.monotonic()
    due = [start + i / (peers * rate) for i in range(peers)]
    while time.monotonic() < start + seconds:
        for i, echo in enumerate(sockets):
            echo.drain()
            if time.monotonic() >= due[i]:
                echo.send_requests()
                due[i] += 1 / rate
        time.sleep(0.005)


def total(lines: list[str], field: str) -> int:
    """The sum of an integer field over line-protocol points."""
    prefix = f"{field}="
    fields = (item for text in lines for item in text.split(" ")[1].split(","))
    return sum(int(item[len(prefix) :].rstrip("i")) for item in fields if item.startswith(prefix))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for name, default in (("seconds", 60.0), ("peers", 63), ("rate", 1.0)):  # rate: the inventory's default
        parser.add_argument(f"--{name}", type=type(default), default=default)
    parser.add_argument("--asked", type=int, help="peers the probe requests from (default: half)")
    args = parser.parse_args()
    asked = (args.peers + 1) // 2 if args.asked is None else args.asked
    with tempfile.TemporaryDirectory(prefix="syntraf-echo-bench-") as directory:
        config = probe_config(Path(directory), args.peers, args.rate, asked)
        before_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        lines: list[str] = []
        voice = Voice(config, lines.extend, lambda edge: HEARD)
        peers = multiprocessing.Process(
            target=run_peers, args=(args.peers, args.rate, args.seconds + 4, asked)
        )
        peers.start()

        async def measure() -> tuple[float, float, float]:
            task = asyncio.ensure_future(voice.run())
            await asyncio.sleep(2)  # warm-up: both sides sending
            cpu, wall = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
            await asyncio.sleep(args.seconds)
            now, elapsed = resource.getrusage(resource.RUSAGE_SELF), time.monotonic() - wall
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            return (now.ru_utime - cpu.ru_utime) / elapsed, (now.ru_stime - cpu.ru_stime) / elapsed, elapsed

        user, system, elapsed = asyncio.run(measure())
        peers.join()
        after_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    sent, lost = total(lines, "echo_sent"), total(lines, "echo_lost")
    print(
        f"echo: {args.peers} peers, one exchange each ({asked} asked, {args.peers - asked} answered), "
        f"{args.rate:g}/s each, {elapsed:.0f} s"
    )
    print(
        f"CPU of the echo: {100 * (user + system):.2f} % of one core "
        f"(user {100 * user:.2f} %: Python; system {100 * system:.2f} %: the syscalls, loopback delivery)"
    )
    print(
        f"a point per edge every {voice.interval:g} s of {args.rate * voice.interval:g} round trips "
        f"(at least {MIN_REQUESTS}: fewer rates cost less CPU but need longer points)"
    )
    added = after_rss - before_rss
    print(f"RSS: {before_rss:.1f} MB before the echo, peak {after_rss:.1f} MB (+{added:.1f} MB)")
    print(f"echo per edge written: sent {sent}, lost {lost}, over {len(lines)} points")
    return 0


if __name__ == "__main__":
    sys.exit(main())
