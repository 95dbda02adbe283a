"""Labs for automated tests and benchmarks, which run while other labs (a developer's `lab up`, another
test run) are up on the same machine.

A test lab is named by `owned_lab_name` (one letter, then the pid of the test process), so the labs of a
killed test run are recognised and taken down by the next one (`reap_abandoned_test_labs`). It takes the
subnet in $SYNTRAF_LAB_SUBNET, else the first free /27 of 198.19.0.0/24 (benchmarking range; a WAN lab's
uplinks start at 198.19.1.0): never 198.51.100.0/24, which `lab up` uses by default and the probe's
network-namespace tests use, and never TEST-NET-3 (203.0.113.0/24), where a build machine may reach its
package registries (a lab bridge there cut this one off from PyPI and Debian).
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from syntraf_ctl.lab import processes
from syntraf_ctl.lab.errors import SubnetInUse
from syntraf_ctl.lab.lifecycle import LabConfig, UpReport, lab_down, lab_up
from syntraf_ctl.lab.network import ip
from syntraf_ctl.lab.state import STATE_ROOT

T = TypeVar("T")
CANDIDATE_SUBNETS = [f"198.19.0.{start}/27" for start in range(0, 256, 32)]
TEST_LAB_NAME = re.compile(r"[a-z](\d+)")
LAB_NETWORK_NAME = re.compile(r"\bsl([a-z]\d+)-(?:br|n\d+|r[a-z0-9]+|core)\b")  # bridge, namespaces


def owned_lab_name(tag: str) -> str:
    """The name of a lab owned by this process: the letter `tag`, then this process's pid."""
    if not re.fullmatch(r"[a-z]", tag):
        raise ValueError(f"test lab tag {tag!r}: one lowercase letter")
    return f"{tag}{os.getpid()}"


def lab_subnets() -> list[str]:
    chosen = os.environ.get("SYNTRAF_LAB_SUBNET")
    return [chosen] if chosen else CANDIDATE_SUBNETS


def on_free_subnet(start: Callable[[str], T]) -> T:
    """`start(subnet)` on the first candidate subnet that no other interface uses (it raises SubnetInUse)."""
    *others, last = lab_subnets()
    for subnet in others:
        with contextlib.suppress(SubnetInUse):
            return start(subnet)
    return start(last)


def up_on_free_subnet(
    name: str, nodes: int, inventory_dir: Path, say: Callable[[str], None] = print, **settings: object
) -> UpReport:
    """Bring lab `name` up on the first candidate subnet no other interface uses (`settings`: LabConfig's)."""
    return on_free_subnet(
        lambda subnet: lab_up(
            LabConfig(name, nodes, subnet, inventory_dir=inventory_dir, **settings), say=say
        )
    )


def reap_abandoned_test_labs() -> None:
    """Take down the labs of test runs that were killed before their teardown (their pid is gone)."""
    listed = ip("netns", "list").stdout + ip("-o", "link", "show", "type", "bridge").stdout
    names = {path.name for path in STATE_ROOT.glob("*")}
    names |= {match.group(1) for match in LAB_NETWORK_NAME.finditer(listed)}
    for name in sorted(names):
        match = TEST_LAB_NAME.fullmatch(name)
        if match and not processes.alive(int(match.group(1))):
            lab_down(name, quiet=True)
