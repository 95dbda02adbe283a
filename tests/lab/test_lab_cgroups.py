"""Taking a lab host down removes its cgroups even while a process is still in them (root, Linux cgroups)."""

from __future__ import annotations

import os
import subprocess

import pytest

from syntraf_ctl.lab.cgroups import host_cgroups, lab_cgroups, remove_cgroups

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="creating cgroups needs root")


def test_a_process_left_in_a_host_cgroup_is_killed_and_the_cgroup_removed() -> None:
    """`lab down` under load failed with EBUSY: a process of the host was still in its cgroup (exiting, or
    never stopped), and a cgroup with a process in it cannot be removed."""
    machine = f"cgtest-{os.getpid()}"
    directories = host_cgroups(machine)
    assert directories
    straggler = subprocess.Popen(["sleep", "600"])
    try:
        for directory in directories:
            (directory / "cgroup.procs").write_text(str(straggler.pid))
        remove_cgroups(machine)
        assert lab_cgroups(machine) == []
        assert straggler.wait(timeout=10) == -9  # SIGKILL
    finally:
        straggler.kill()
        straggler.wait()
        remove_cgroups(machine)
