"""The `lab` fixture: a real 3-host lab (systemd-nspawn hosts with sshd, a VictoriaMetrics database, an
inventory) for the whole test session, always torn down at the end.

The lab's subnet is $SYNTRAF_LAB_SUBNET, else the first free /27 of 203.0.113.0/24 (TEST-NET-3): never
198.51.100.0/24, which the probe's network-namespace tests use in the same session and `lab up` by default.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from syntraf_ctl.lab.control import Lab
from syntraf_ctl.lab.errors import SubnetInUse
from syntraf_ctl.lab.lifecycle import LabConfig, UpReport, lab_down, lab_up
from syntraf_ctl.lab.preflight import unmet_requirements

LAB_NODES = 3
CANDIDATE_SUBNETS = [f"203.0.113.{start}/27" for start in range(0, 256, 32)]


def lab_subnets() -> list[str]:
    chosen = os.environ.get("SYNTRAF_LAB_SUBNET")
    return [chosen] if chosen else CANDIDATE_SUBNETS


def require_lab() -> None:
    """Skip (with the reason) where the lab cannot run: not Linux, not root, or a tool missing."""
    problem = unmet_requirements()
    if problem:
        pytest.skip(f"lab tests: {problem}")


def _say(message: str) -> None:
    print(message, file=sys.stderr)


def up_on_free_subnet(name: str, nodes: int, inventory_dir: Path, **settings: object) -> UpReport:
    """Bring lab `name` up on the first candidate subnet no other interface uses (`settings`: LabConfig's)."""
    *others, last = lab_subnets()
    for subnet in others:
        with contextlib.suppress(SubnetInUse):
            return lab_up(LabConfig(name, nodes, subnet, inventory_dir=inventory_dir, **settings), say=_say)
    return lab_up(LabConfig(name, nodes, last, inventory_dir=inventory_dir, **settings), say=_say)


@pytest.fixture
def bring_up() -> Callable[..., UpReport]:
    """`bring_up(name, nodes, inventory_dir, **LabConfig settings)` starts one more lab; the caller takes it
    down (`lab_down(name)`)."""
    require_lab()
    return up_on_free_subnet


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """A running 3-host lab named after this test run's pid; see `syntraf_ctl.lab.control.Lab` for its API."""
    require_lab()
    name = f"t{os.getpid()}"
    try:
        report = up_on_free_subnet(name, LAB_NODES, tmp_path_factory.mktemp("lab") / "inventory")
        timings = ", ".join(f"{step} {seconds:.1f} s" for step, seconds in report.timings.items())
        _say(f"lab {name} up on {report.state.subnet}: {timings}")
        yield Lab(report.state, report.failed_units)
    finally:
        lab_down(name, quiet=True)
