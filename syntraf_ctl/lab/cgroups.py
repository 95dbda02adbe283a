"""A cgroup of its own for each lab host, in every hierarchy systemd tracks processes with.

With `--keep-unit` and no systemd to create a scope, systemd-nspawn puts the container in `payload/` under
the cgroup it was started in: hosts started from one shell would share one cgroup tree, so stopping a unit
in one host would kill the same unit's processes in the others. Each host's supervisor therefore moves
itself into `<caller's cgroup>/syntraf-lab/<machine>` before it starts nspawn.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

CGROUP_GROUP = "syntraf-lab"
EMPTY_WITHIN = 10.0  # seconds for what is left in a host's cgroups to be killed and gone


def _hierarchies() -> dict[str, Path]:
    """Hierarchy key as in /proc/self/cgroup ("" for cgroup v2, "name=systemd" for v1) -> mount point."""
    found = {}
    with open("/proc/self/mounts") as mounts:
        for line in mounts:
            _, target, fstype, options, *_ = line.split()
            if fstype == "cgroup2":
                found[""] = Path(target)
            elif fstype == "cgroup" and "name=systemd" in options.split(","):
                found["name=systemd"] = Path(target)
    return found


def _lab_roots() -> list[Path]:
    """`<mount>/<our cgroup>/syntraf-lab` in each hierarchy systemd uses."""
    mounts = _hierarchies()
    roots = []
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controllers in mounts:
            roots.append(mounts[controllers] / path.lstrip("/") / CGROUP_GROUP)
    return roots


def host_cgroups(machine: str) -> list[Path]:
    """Create (if needed) and return the host's cgroup directories; its supervisor joins them."""
    directories = [root / machine for root in _lab_roots()]
    for directory in directories:
        directory.mkdir(parents=True, exist_ok=True)
    return directories


def remove_cgroups(machines: str) -> None:
    """Remove the cgroup trees of the machines matching the glob `machines`, deepest first, once every
    process left in them is killed and gone (a cgroup with a process in it cannot be removed: EBUSY)."""
    for root in _lab_roots():
        for tree in root.glob(machines):
            _empty(tree)
            for directory, _, _ in os.walk(tree, topdown=False):
                with contextlib.suppress(FileNotFoundError):
                    os.rmdir(directory)
        with contextlib.suppress(OSError):
            root.rmdir()  # only once no other lab uses it


def _empty(tree: Path) -> None:
    """Kill every process still in `tree` and wait until the cgroups list none: a process that is exiting
    (under load, some time after its SIGKILL) is still listed, and its cgroup still busy."""
    deadline = time.monotonic() + EMPTY_WITHIN
    while (pids := _pids_in(tree)) and time.monotonic() < deadline:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)


def _pids_in(tree: Path) -> set[int]:
    pids: set[int] = set()
    for directory, _, _ in os.walk(tree):
        with contextlib.suppress(FileNotFoundError):
            pids.update(int(pid) for pid in Path(directory, "cgroup.procs").read_text().split())
    return pids


def lab_cgroups(machines: str) -> list[Path]:
    """The cgroup directories of the machines matching the glob `machines`."""
    return [tree for root in _lab_roots() for tree in root.glob(machines)]
