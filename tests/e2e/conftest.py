"""The `lab` fixture: a real 3-host lab (systemd-nspawn hosts with sshd, a VictoriaMetrics database, an
inventory) for the whole test session, always torn down at the end. Its subnet and name follow
`tests.support.testlabs` ($SYNTRAF_LAB_SUBNET, else a free /27 of 198.19.0.0/24; `t<pid>`).
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from syntraf_ctl.lab.lifecycle import UpReport, lab_down
from syntraf_ctl.lab.preflight import unmet_requirements
from tests.support.lab_control import Lab
from tests.support.testlabs import owned_lab_name, reap_abandoned_test_labs, up_on_free_subnet

LAB_NODES = 3
REPO = Path(__file__).resolve().parents[2]


def require_lab() -> None:
    """Skip (with the reason) where the lab cannot run: not Linux, not root, or a tool missing."""
    problem = unmet_requirements()
    if problem:
        pytest.skip(f"lab tests: {problem}")


def _say(message: str) -> None:
    print(message, file=sys.stderr)


@pytest.fixture
def bring_up() -> Callable[..., UpReport]:
    """`bring_up(name, nodes, inventory_dir, **LabConfig settings)` starts one more lab (name it with
    `owned_lab_name(letter)`); the caller takes it down with `lab_down(name)`."""
    require_lab()
    reap_abandoned_test_labs()
    return lambda name, nodes, inventory_dir, **settings: up_on_free_subnet(
        name, nodes, inventory_dir, say=_say, **settings
    )


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """A running 3-host lab named after this test run's pid; its API: `tests.support.lab_control.Lab`."""
    require_lab()
    reap_abandoned_test_labs()
    name = owned_lab_name("t")
    try:
        report = up_on_free_subnet(name, LAB_NODES, tmp_path_factory.mktemp("lab") / "inventory", say=_say)
        timings = ", ".join(f"{step} {seconds:.1f} s" for step, seconds in report.timings.items())
        _say(f"lab {name} up on {report.state.subnet}: {timings}")
        yield Lab(report.state, report.failed_units)
    finally:
        lab_down(name, quiet=True)


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """syntraf-ctl as users install it: the wheels of the controller and the probe, built from this
    checkout and installed into a fresh virtual environment outside it; returns that environment's bin/.
    The e2e tests run its `syntraf-ctl` from a directory outside the checkout."""
    require_lab()
    wheels = tmp_path_factory.mktemp("wheels")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    build = [
        *pip,
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "-w",
        str(wheels),
        str(REPO),
        str(REPO / "probe"),
    ]
    subprocess.run(build, check=True, cwd=wheels, timeout=600)
    venv = tmp_path_factory.mktemp("installed") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    install = [str(venv / "bin/python"), "-m", "pip", "--disable-pip-version-check", "-q", "install"]
    wheel_files = sorted(str(path) for path in wheels.glob("*.whl"))
    subprocess.run([*install, "--no-deps", "--no-index", *wheel_files], check=True, cwd=wheels, timeout=900)
    # The third-party dependencies (ansible-core, ansible-runner, ...) come from this environment: the
    # registries are not always reachable from the lab machine. syntraf's own code, its collection and
    # its ansible.cfg come from the wheels only (a .pth line adds no editable finder).
    site = next((venv / "lib").glob("python3*/site-packages"))
    (site / "syntraf-test-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv / "bin"
