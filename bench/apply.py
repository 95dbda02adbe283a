#!/usr/bin/env python3
"""Benchmark `syntraf-ctl apply` on fresh labs of 3 and 9 hosts (root, Linux): the wall time of a cold apply,
of a no-op apply and of `ansible all -m ping` on the same lab, in the same run, and their ratio (target: a
no-op apply within 6x the ping); then, on the 3-host lab, the number of tasks each host runs for a small and
a large mesh (they must be equal: the role's work never grows with the number of edges and peers).

    .venv/bin/python bench/apply.py [--nodes 3 9]

Boots its own labs (named b<pid>, on a free subnet of 198.19.0.0/24 or $SYNTRAF_LAB_SUBNET) and always takes
them down again.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout: tests.support (test labs)

from syntraf_ctl.artifact import build
from syntraf_ctl.compile import compile_inventory
from syntraf_ctl.lab.lifecycle import lab_down
from syntraf_ctl.pipeline import deploy
from syntraf_ctl.progress import PlainProgress
from syntraf_ctl.runner import ansible_environment
from tests.support.testlabs import owned_lab_name, up_on_free_subnet

LARGE_GROUPS = 8  # the large mesh: this many groups over the same hosts, 8x the edges per host
TARGET_RATIO = 6.0  # a no-op apply within this many times `ansible all -m ping`


def timed_ping(inventory: Path) -> float:
    """Wall time of `ansible all -m ping` with syntraf's Ansible settings (connection reuse included)."""
    started = time.monotonic()
    done = subprocess.run(
        [str(Path(sys.executable).with_name("ansible")), "all", "-i", str(inventory), "-m", "ping"],
        capture_output=True,
        text=True,
        env={**os.environ, **ansible_environment()},
    )
    if done.returncode != 0:
        raise SystemExit(f"ping failed:\n{done.stdout}{done.stderr}")
    return time.monotonic() - started


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


def bench_lab(nodes: int, work: Path, count_tasks: bool) -> bool:
    """Print the apply and ping figures of a fresh lab of `nodes` hosts as soon as they are measured; True
    when within the target."""
    name = owned_lab_name("b")
    try:
        report = up_on_free_subnet(name, nodes, work / f"lab{nodes}", say=lambda _: None)
        inventory = Path(report.state.inventory_dir)
        cold = timed_apply(inventory)
        noop = timed_apply(inventory)
        ping = timed_ping(inventory)
        ratio = noop[0] / ping
        print(f"syntraf-ctl apply on a {nodes}-host lab")
        print(f"  cold apply (fresh hosts)    {cold[0]:6.1f} s  ({cold[1]})")
        print(f"  no-op apply                 {noop[0]:6.1f} s  ({noop[1]})")
        print(f"  ansible all -m ping         {ping:6.1f} s")
        print(f"  no-op apply / ping          {ratio:6.1f}x  (target <= {TARGET_RATIO:g}x)", flush=True)
        if not count_tasks:
            return ratio <= TARGET_RATIO
        small_tasks, small_edges = tasks_per_host(inventory)
        make_large(inventory, work / "large")
        large_tasks, large_edges = tasks_per_host(work / "large")
    finally:
        lab_down(name, quiet=True)
    print(f"  tasks per host, small mesh  {small_tasks}  ({small_edges} edges, 2 groups)")
    print(f"  tasks per host, large mesh  {large_tasks}  ({large_edges} edges, {LARGE_GROUPS} groups)")
    equal = small_tasks == large_tasks
    print(f"  equal per host: {'yes' if equal else 'NO'}")
    return equal and ratio <= TARGET_RATIO


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--nodes", type=int, nargs="+", default=[3, 9], help="lab sizes (default: 3 9)")
    parser.add_argument("--no-tasks", dest="tasks", action="store_false", help="skip the task count")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="syntraf-bench-"))
    try:
        results = [
            bench_lab(nodes, work, count_tasks=index == 0 and args.tasks)
            for index, nodes in enumerate(args.nodes)
        ]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
