"""A time limit for loading an inventory: a dynamic inventory script that hangs must not hang syntraf-ctl.

Ansible runs inventory scripts without a timeout, so the limit is an alarm in the main thread; when it
fires, the processes started meanwhile (the script and its children) are killed, and the load ends with
TimeLimitExceeded.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator

DEFAULT_SECONDS = 60.0
ENVIRONMENT = "SYNTRAF_INVENTORY_TIMEOUT"


class TimeLimitExceeded(BaseException):
    """Raised by the alarm; a BaseException so that Ansible's `except Exception` does not swallow it."""


def inventory_seconds() -> float:
    """The limit: $SYNTRAF_INVENTORY_TIMEOUT seconds if set to a positive number, else 60."""
    try:
        seconds = float(os.environ.get(ENVIRONMENT, DEFAULT_SECONDS))
    except ValueError:
        return DEFAULT_SECONDS
    return seconds if seconds > 0 else DEFAULT_SECONDS


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise TimeLimitExceeded in the block after `seconds`, killing the processes it started.
    Outside the main thread (no signals there) the block runs without a limit."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = set(_descendants())

    def expire(signum: int, frame: object) -> None:
        _kill_tree(before)
        raise TimeLimitExceeded()

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _kill_tree(before: set[int]) -> None:
    """Kill the descendants started since `before`. Each is stopped first, and the tree scanned again until
    every one found is stopped: a stopped process forks no more, so none can slip out between a scan and
    the kill of its parent (a script forking in a loop left orphans behind a single scan-and-kill)."""
    stopped: set[int] = set()
    for _ in range(1000):
        states = {pid: state for pid, state in _descendants().items() if pid not in before}
        new = states.keys() - stopped
        for pid in new:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
        stopped |= new
        if not new and all(state in "Tt" for state in states.values()):
            break
    for pid in stopped:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5  # SIGKILL is not instant: return when they are gone
    while any(_alive(pid) for pid in stopped) and time.monotonic() < deadline:
        time.sleep(0.01)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stream:
            return stream.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _descendants() -> dict[int, str]:
    """This process's live children, their children and so on, with their state letter (Linux /proc;
    elsewhere none). A zombie is left out: it is dead already, and its children have a new parent."""
    parent_of: dict[int, int] = {}
    state_of: dict[int, str] = {}
    with contextlib.suppress(OSError):
        for entry in filter(str.isdigit, os.listdir("/proc")):
            with contextlib.suppress(OSError, IndexError, ValueError), open(f"/proc/{entry}/stat") as stream:
                # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after its ")"
                state, parent = stream.read().rsplit(")", 1)[1].split()[:2]
                if state != "Z":
                    parent_of[int(entry)], state_of[int(entry)] = int(parent), state
    found: set[int] = set()
    frontier = {os.getpid()}
    while frontier:
        frontier = {pid for pid, parent in parent_of.items() if parent in frontier} - found
        found |= frontier
    return {pid: state_of[pid] for pid in found}
