"""The installed iperf3: its version, and the command line for each side of an edge (see iperf3.md)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from .config import Config, ConfigError, Edge
from .keys import public_key_path

Version = tuple  # (major, minor)

JSON_STREAM_SINCE = (3, 17)  # --json-stream; older versions need text output with --forceflush
SERVER_TOS_FIXED = (3, 13)  # before this a dual-stack listener does not mark DSCP on what it sends (-B)
PKCS1_SINCE = (3, 17)  # --use-pkcs1-padding exists
PKCS1_CLIENT_UNTIL = (3, 20)  # from 3.20 it is a server-only option
SND_TIMEOUT_SINCE = (3, 12)
# A stall shorter than this (bufferbloat, a route change, a hold) ends no test: when traffic resumes, iperf3
# counts exactly what the stall lost, and the meter takes back what it wrote meanwhile (docs/metrics.md)
MIN_RCV_TIMEOUT_MS = 5000
# iperf3 before 3.19 keeps every interval of a test in memory (~400 B each, iperf3.md §7): a test is cut at
# this many intervals (14 MB), so `-t 86400 -i 0.1` (324 MB) runs as one-hour tests
MAX_INTERVALS_PER_TEST = 36000
MAX_PACING_TIMER_US = 20000


def detect_version(binary: str) -> Version:
    """Run `iperf3 --version`; raise ConfigError when it is missing or unrecognisable."""
    try:
        result = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.SubprocessError) as error:
        raise ConfigError(f"iperf3.binary {binary}: cannot run it: {error}") from None
    return parse_version(result.stdout + result.stderr, binary)


def parse_version(output: str, binary: str = "iperf3") -> Version:
    match = re.search(r"iperf (\d+)\.(\d+)", output)
    if not match:
        raise ConfigError(f"iperf3.binary {binary}: no version in `--version` output {output[:80]!r}")
    return (int(match.group(1)), int(match.group(2)))


def uses_json_stream(version: Version) -> bool:
    return version >= JSON_STREAM_SINCE


def is_listener(config: Config, edge: Edge) -> bool:
    return edge.listener == config.host


def test_seconds(config: Config, edge: Edge) -> int:
    """The `-t` of the edge's tests: the configured duration, bounded by iperf3's memory per interval."""
    return max(1, min(config.iperf3.test_duration, int(MAX_INTERVALS_PER_TEST * edge.interval)))


def rcv_timeout_ms(edge: Edge) -> int:
    """Two intervals, at least MIN_RCV_TIMEOUT_MS: the meter, not this timeout, reports an outage (within two
    intervals); the timeout only ends a test whose traffic is gone for good, so that it can be restarted."""
    return max(MIN_RCV_TIMEOUT_MS, round(2 * edge.interval * 1000))


def pacing_timer_us(edge: Edge) -> int:
    """One pacing wake-up per packet (the 1 ms default costs ~3 % of a core per sender on 3.12).

    Capped so that bursts stay small against the interval, floored at iperf3's default.
    """
    per_packet = 1_000_000 / edge.packets_per_second
    return int(max(1000, min(per_packet, MAX_PACING_TIMER_US, edge.interval * 1_000_000 / 20)))


@dataclass(frozen=True)
class Command:
    argv: list[str]
    env: dict[str, str]


def _output_flags(version: Version) -> list[str]:
    return ["--json-stream"] if uses_json_stream(version) else ["--forceflush"]


def _line_buffered(argv: list[str], version: Version, receiving: bool) -> list[str]:
    """Text output sits in stdio's pipe buffer until --forceflush flushes an interval, so 3.12's connect
    lines would arrive with its first interval; the receiver's meter judges a test boundary by them
    (parse.Connected). stdbuf (coreutils) makes iperf3's stdout line-buffered; --json-stream flushes each
    event itself, and a sending edge has no meter."""
    stdbuf = None if uses_json_stream(version) or not receiving else shutil.which("stdbuf")
    return [stdbuf, "-oL", *argv] if stdbuf else argv


def build_command(
    config: Config, edge: Edge, version: Version, base_env: Optional[dict] = None, alternate_key: bool = False
) -> Command:
    """The iperf3 command this host runs for `edge`; the password travels only in the child's env.

    `alternate_key`: an initiator uses the listener's other public key (during a key rotation, keys.py)."""
    env = dict(os.environ if base_env is None else base_env)
    env.pop("IPERF3_PASSWORD", None)
    binary = config.iperf3.binary
    auth = config.auth
    if is_listener(config, edge):
        argv = [binary, "-s", "-p", str(edge.port), "-i", _num(edge.interval)]
        argv += ["--rcv-timeout", str(rcv_timeout_ms(edge))]
        if version < SERVER_TOS_FIXED:
            argv += ["-B", config.address]
        if auth is not None:
            argv += ["--rsa-private-key-path", auth.private_key_path]
            argv += ["--authorized-users-path", auth.authorized_users_path]
            argv += ["--time-skew-threshold", str(auth.time_skew_threshold)]
        if edge.pkcs1_padding and version >= PKCS1_SINCE:
            argv.append("--use-pkcs1-padding")
        return Command(_line_buffered(argv + _output_flags(version), version, edge.dst == config.host), env)

    argv = [binary, "-c", edge.connect_address, "-p", str(edge.port), "-u"]
    argv += ["-b", str(edge.bandwidth_bps), "-l", str(edge.packet_size)]
    argv += ["-t", str(test_seconds(config, edge)), "-i", _num(edge.interval), "--dscp", str(edge.dscp)]
    argv += ["--pacing-timer", str(pacing_timer_us(edge))]
    argv += ["--connect-timeout", str(config.iperf3.connect_timeout_ms), "--udp-counters-64bit"]
    if edge.mode == "reverse":
        argv += ["-R", "--rcv-timeout", str(rcv_timeout_ms(edge))]
    elif version >= SND_TIMEOUT_SINCE:
        # without it a sender whose peer vanished waits ~15 min for the results at the end of a test
        argv += ["--snd-timeout", str(max(3000, config.iperf3.connect_timeout_ms))]
    if auth is not None:
        argv += ["--username", auth.username]
        argv += ["--rsa-public-key-path", public_key_path(auth, edge.listener, alternate_key)]
        # one password per initiator and listener
        env["IPERF3_PASSWORD"] = read_password(str(Path(auth.public_keys_dir) / f"{edge.listener}.password"))
    if edge.pkcs1_padding and PKCS1_SINCE <= version < PKCS1_CLIENT_UNTIL:
        argv.append("--use-pkcs1-padding")
    return Command(_line_buffered(argv + _output_flags(version), version, edge.dst == config.host), env)


def read_password(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as error:
        raise ConfigError(f"auth.public_keys_dir: {path}: cannot read: {error.strerror}") from None


def _num(value: float) -> str:
    return f"{value:g}"
