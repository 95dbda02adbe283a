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
    before = _descendants()

    def expire(signum: int, frame: object) -> None:
        for pid in _descendants() - before:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        raise TimeLimitExceeded()

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _descendants() -> set[int]:
    """Process ids of this process's children, their children and so on (Linux /proc; elsewhere none)."""
    parent_of: dict[int, int] = {}
    with contextlib.suppress(OSError):
        for entry in filter(str.isdigit, os.listdir("/proc")):
            with contextlib.suppress(OSError, IndexError, ValueError), open(f"/proc/{entry}/stat") as stream:
                # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after its ")"
                parent_of[int(entry)] = int(stream.read().rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {os.getpid()}
    while frontier:
        frontier = {pid for pid, parent in parent_of.items() if parent in frontier} - found
        found |= frontier
    return found
