"""Find and stop the lab's processes by what they run on (a path of the lab), never by a broad name."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [arg for arg in raw.decode(errors="replace").split("\0") if arg]


def _root(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/root")
    except OSError:
        return ""


def _all_pids() -> list[int]:
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]


def pids_naming(directory: Path) -> list[int]:
    """Processes whose command line names a path inside `directory` (supervisors, nspawn, the database)."""
    inside = str(directory).rstrip("/") + "/"
    return [pid for pid in _all_pids() if pid != os.getpid() and any(inside in arg for arg in _cmdline(pid))]


def pids_rooted_in(directory: Path) -> list[int]:
    """Processes whose root directory is inside `directory`: what runs in the lab's containers."""
    inside = str(directory).rstrip("/") + "/"
    return [pid for pid in _all_pids() if (_root(pid) + "/").startswith(inside)]


def pids_in_cgroup(part: str) -> list[int]:
    """Processes whose cgroup path contains `part` (e.g. a lab host's `syntraf-lab/<machine>/`)."""
    found = []
    for pid in _all_pids():
        try:
            if part in Path(f"/proc/{pid}/cgroup").read_text():
                found.append(pid)
        except OSError:
            continue
    return found


def children(pid: int) -> list[int]:
    found = []
    for child in _all_pids():
        try:
            stat = Path(f"/proc/{child}/stat").read_text()
        except OSError:
            continue
        # the command name (2nd field) may contain spaces: the parent pid is the 2nd field after its ")"
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(child)
    return found


def cmdline(pid: int) -> list[str]:
    return _cmdline(pid)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def stop(pids: list[int], sig: int = signal.SIGTERM, timeout: float = 5.0) -> None:
    """Send `sig`, wait up to `timeout` for the processes to end, then SIGKILL the rest and wait for them."""
    for sig_now, wait in ((sig, timeout), (signal.SIGKILL, 5.0)):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig_now)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and any(alive(pid) for pid in pids):
            time.sleep(0.05)
        pids = [pid for pid in pids if alive(pid)]
        if not pids:
            return
