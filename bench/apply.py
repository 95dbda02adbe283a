#!/usr/bin/env python3
"""Benchmark `syntraf-ctl apply` on a fresh 3-host lab (root, Linux): the wall time of a cold apply and of a
no-op apply, and the number of tasks each host runs for a small and a large mesh (they must be equal: the
role loops over groups and files, it never grows with the number of edges).

    .venv/bin/python bench/apply.py

Boots its own lab (named b<pid>, on a free subnet of 203.0.113.0/24 or $SYNTRAF_LAB_SUBNET) and always takes
it down again.
"""

from __future__ import annotations

import argparse
import io
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from syntraf_ctl.artifact import build
from syntraf_ctl.commands.apply import deploy
from syntraf_ctl.compile import compile_inventory
from syntraf_ctl.lab.lifecycle import lab_down
from syntraf_ctl.lab.testlabs import owned_lab_name, up_on_free_subnet
from syntraf_ctl.runner import PlainProgress

LARGE_GROUPS = 8  # the large mesh: this many groups over the same hosts, 8x the edges per host


def timed_apply(inventory: Path) -> tuple[float, str]:
    """Wall time of `syntraf-ctl apply`, and its verdict line (e.g. "changed 0 things")."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "syntraf_ctl.cli", "apply", "-i", str(inventory)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"apply failed:\n{done.stdout}{done.stderr}")
    return time.monotonic() - started, done.stdout.strip().splitlines()[-1]


def tasks_per_host(inventory: Path) -> tuple[dict[str, int], int]:
    """Apply until a run changes nothing (converged), then count each host's tasks in that no-op run."""
    plan = compile_inventory(str(inventory))
    args = argparse.Namespace(
        inventory=str(inventory), limit=None, forks=None, check=False, diff=False, vault_password_file=None
    )
    artifact = build()  # one probe build for all runs, even if the probe's sources change meanwhile
    for _ in range(3):
        run = deploy(plan, args, PlainProgress(io.StringIO()), artifact)
        if not run.succeeded:
            raise SystemExit(f"apply failed: {[str(failure) for failure in run.failures]}")
        if run.changed == 0:
            return {host: tally.tasks for host, tally in run.hosts.items() if host != "localhost"}, len(
                plan.edges
            )
    raise SystemExit("apply did not converge in 3 runs")


def make_large(inventory: Path, target: Path) -> None:
    shutil.copytree(inventory, target)
    main = target / "group_vars/all/main.yml"
    settings = yaml.safe_load(main.read_text())
    settings["syntraf_mesh_groups"] = {
        f"g{index}": {"members": "all", "profile": "g711", "interval": 10} for index in range(LARGE_GROUPS)
    }
    main.write_text(yaml.safe_dump(settings))


def main() -> int:
    argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    ).parse_args()
    name = owned_lab_name("b")
    work = Path(tempfile.mkdtemp(prefix="syntraf-bench-"))
    try:
        report = up_on_free_subnet(name, 3, work / "small", say=lambda _: None)
        small = Path(report.state.inventory_dir)
        cold = timed_apply(small)
        noop = timed_apply(small)
        small_tasks, small_edges = tasks_per_host(small)
        make_large(small, work / "large")
        large_tasks, large_edges = tasks_per_host(work / "large")
        subprocess.run(
            [sys.executable, "-m", "syntraf_ctl.cli", "destroy", "-i", str(work / "large")],
            capture_output=True,
        )
    finally:
        lab_down(name, quiet=True)
        shutil.rmtree(work, ignore_errors=True)
    print("syntraf-ctl apply on a 3-host lab")
    print(f"  cold apply (fresh hosts)   {cold[0]:6.1f} s  ({cold[1]})")
    print(f"  no-op apply                {noop[0]:6.1f} s  ({noop[1]})")
    print(f"  tasks per host, small mesh  {small_tasks}  ({small_edges} edges, 2 groups)")
    print(f"  tasks per host, large mesh  {large_tasks}  ({large_edges} edges, {LARGE_GROUPS} groups)")
    # (the first host also runs the run-once task that records iperf3 versions on the controller)
    equal = small_tasks == large_tasks
    print(f"  equal per host: {'yes' if equal else 'NO'}")
    return 0 if equal else 1


if __name__ == "__main__":
    sys.exit(main())
