"""The steps the commands share, from an inventory to the hosts: compile (asking the hosts for the iperf3
versions it does not know), report, prepare (render, key material, the probe artifact) and deploy.

Ansible never calls back into the controller: what the hosts report (their iperf3 versions) comes back as
the results of the runs and goes into the compile, and into the lock file for the next runs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from dataclasses import replace
from typing import Any

from syntraf_ctl.artifact import Artifact, build
from syntraf_ctl.auth.facts import VersionReader, version_text
from syntraf_ctl.auth.prepare import announce_material, material_for_check
from syntraf_ctl.compile import compile_inventory
from syntraf_ctl.lockfile import read_lock, write_lock
from syntraf_ctl.messages import name_list
from syntraf_ctl.observability.pack import add_to_render
from syntraf_ctl.plan import Plan
from syntraf_ctl.render import (
    HOST_DOCUMENT,
    RenderedTree,
    host_document,
    render_plan,
    render_to,
    write_tree,
)
from syntraf_ctl.runner import (
    PlaybookRun,
    Progress,
    options_from_args,
    print_summary,
    progress_for,
    run_playbook,
)

VERSION_TASK = "Read the iperf3 version"  # the role's task whose output is a host's `iperf3 --version`


def compile_for_deploy(args: argparse.Namespace) -> Plan:
    """Compile the inventory, reading the iperf3 version of the hosts that have none recorded yet (so the
    very first apply of a mixed 3.12/3.17+ mesh already gives each pair what it needs). Raises
    ValidationError."""
    return compile_inventory(args.inventory, args.vault_password_file, read_versions=version_reader(args))


def version_reader(args: argparse.Namespace) -> VersionReader:
    """Run the preflight playbook on the given hosts (it changes nothing) and return their iperf3 output."""

    def read(hosts: list[Any]) -> dict[str, str]:
        names = [host.name for host in hosts]
        print(f"reading the iperf3 versions of {name_list(names)} (syntraf.mesh.preflight)", flush=True)
        limit = ":".join(names) + (f":&{args.limit}" if args.limit else "")
        with tempfile.TemporaryDirectory(prefix="syntraf-preflight-") as work:
            for host in hosts:  # the documents preflight reads: the iperf3 binary, auth, clock bounds
                os.makedirs(os.path.join(work, host.name))
                with open(os.path.join(work, host.name, HOST_DOCUMENT), "w", encoding="utf-8") as stream:
                    json.dump(host_document(host, [], []), stream)
            options = replace(options_from_args(args, {"syntraf_render_dir": work}), limit=limit)
            run = run_playbook(
                "preflight.yml", replace(options, check=False, diff=False), progress_for(), VERSION_TASK
            )
        if not run.succeeded:  # those hosts fail the deploy too; the others go ahead
            print_summary(run)
        return {host: str(result.get("stdout", "")) for host, result in run.results.items()}

    return read


def deploy(
    plan: Plan, args: argparse.Namespace, progress: Progress, artifact: Artifact | None = None
) -> PlaybookRun:
    """Render `plan` with the probe artifact (built unless given), run the deploy playbook, and record the
    iperf3 versions the hosts reported in the lock file.

    With --check, nothing beside the inventory is written: no lock file, no key material (the hosts' key
    files go to the run's temporary directory, deleted afterwards). Without, the host's preflight runs
    only where an iperf3 version is still unknown. Raises ArtifactError, StoreError, OSError."""
    artifact = artifact or build()
    with tempfile.TemporaryDirectory(prefix="syntraf-apply-") as work:
        render_dir = os.path.join(work, "rendered")
        extravars: dict[str, Any] = {
            "syntraf_render_dir": render_dir,
            "syntraf_probe_python_min_version": artifact.requires_python,
            "syntraf_probe_preflight": not plan.versions_known(),
        }
        tree = render_tree(plan, artifact.path)
        if args.check:
            write_tree(tree, render_dir)
            extravars["syntraf_probe_auth_base"] = material_for_check(plan, args.vault_password_file, work)
        else:
            render_to(plan, render_dir, tree, lambda: announce_material(plan, args.vault_password_file))
        run = run_playbook("deploy.yml", options_from_args(args, extravars), progress, VERSION_TASK)
    if not args.check:
        record_versions(plan, run)
    return run


def render_tree(plan: Plan, probe: str) -> RenderedTree:
    """What the deploy playbook reads: every host's files, the probe zipapp `probe`, and the observability
    pack for the hosts of the inventory groups syntraf_grafana and syntraf_alerting."""
    return add_to_render(render_plan(plan, probe), plan)


def record_versions(plan: Plan, run: PlaybookRun) -> None:
    """Keep in the lock file the iperf3 versions a deploy saw (iperf3 just installed, or upgraded)."""
    seen = {host: version_text(str(result.get("stdout", ""))) for host, result in run.results.items()}
    seen = {host: version for host, version in seen.items() if version}
    if all(plan.iperf3_versions.get(host) == version for host, version in seen.items()):
        return
    state, _ = read_lock(plan.lock_path)
    if state is not None:
        state.versions = dict(sorted({**state.versions, **seen}.items()))
        write_lock(plan.lock_path, state)


def print_warnings(plan: Plan) -> None:
    for warning in plan.warnings:
        print(f"warning: {warning}", file=sys.stderr)
