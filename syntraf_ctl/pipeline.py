"""The steps of every command, from an inventory to the hosts: compile (asking the hosts for the iperf3
versions it does not know), prepare (render, key material, the probe artifact), deploy, rotate, read the
status and destroy. The commands parse arguments, call these and print.

Ansible never calls back into the controller: what the hosts report (their iperf3 versions) comes back as
the results of the runs and goes into the compile, and into the lock file for the next runs.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from syntraf_ctl.artifact import Artifact, build
from syntraf_ctl.auth.facts import VersionReader, version_text
from syntraf_ctl.auth.prepare import announce_material, material_for_check
from syntraf_ctl.auth.store import (
    AuthStore,
    StoreError,
    begin_rotation,
    finish_rotation,
    load_store,
    save_store,
    switch_rotation,
)
from syntraf_ctl.compile import compile_inventory
from syntraf_ctl.lockfile import read_lock, write_lock
from syntraf_ctl.messages import name_list
from syntraf_ctl.observability.pack import add_to_render
from syntraf_ctl.plan import Plan
from syntraf_ctl.problems import display_path
from syntraf_ctl.progress import print_summary, progress_for
from syntraf_ctl.render import (
    HOST_DOCUMENT,
    RenderedTree,
    host_document,
    render_plan,
    render_to,
    write_tree,
)
from syntraf_ctl.render_target import render_target
from syntraf_ctl.runner import PlaybookRun, Progress, options_from_args, run_playbook

VERSION_TASK = "Read the iperf3 version"  # the role's task whose output is a host's `iperf3 --version`
STATUS_TASK = "syntraf.mesh.syntraf_probe_status"  # the status playbook's task: what a host reports
SWITCH_MARGIN = 30.0  # seconds beyond one test duration: a test's handshake and the probe's restart delays


def compile_plan(args: argparse.Namespace) -> Plan:
    """The plan of `args.inventory`, keeping the lock file's ports. Raises ValidationError."""
    return compile_inventory(args.inventory, args.vault_password_file)


def compile_for_output(args: argparse.Namespace) -> tuple[str, Plan]:
    """For a command that writes `args.output`: the checked output directory, then the compiled plan.
    Nothing is written. Raises OutputRefused, ValidationError."""
    target = render_target(args.output, args.inventory)
    return target, compile_plan(args)


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


def render(plan: Plan, target: str, args: argparse.Namespace) -> None:
    """Build the probe artifact, then write every host's files, the key material and the lock file (see
    render_to). Raises ArtifactError, StoreError, OSError."""
    tree = render_tree(plan, build().path)
    render_to(plan, target, tree, lambda: announce_material(plan, args.vault_password_file))


def read_status(args: argparse.Namespace, progress: Progress) -> PlaybookRun:
    """What each host's probes report (their state files, read by the status playbook)."""
    return run_playbook("status.yml", options_from_args(args), progress, STATUS_TASK)


def destroy(args: argparse.Namespace) -> PlaybookRun:
    """Stop and remove everything syntraf installed on the hosts, the observability pack included (what
    it owns needs no render: the role states its places)."""
    return run_playbook("destroy.yml", options_from_args(args), progress_for())


def switch_wait(plan: Plan) -> float:
    """Every listener restarts its iperf3 at the end of its current test: one test duration at most."""
    return max((host.test_duration for host in plan.model.hosts.values()), default=0) + SWITCH_MARGIN


def rotate(
    path: str,
    vault_password_file: str | None,
    apply: Callable[[str], bool],
    wait_seconds: float,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Drive the key rotation of the store at `path` from its saved phase to its end (docs/security.md):
    `apply(step)` deploys, True when it succeeded. The phase reached is saved after each step, so a run
    after a failure goes on from there. 0 when done. Raises StoreError."""
    store = _load_rotating(path, vault_password_file)
    if store.rotation is None:
        begin_rotation(store)
        save_store(store, path, vault_password_file)
        print(f"rotate-keys: generation {store.rotation.to} created in {display_path(path)}")
    if store.rotation.phase == "accept":
        if not apply(f"1/3 listeners accept generations {store.active} and {store.rotation.to}"):
            return 1
        switch_rotation(store)
        save_store(store, path, vault_password_file)
    if not apply(f"2/3 every host switches to generation {store.rotation.to}"):
        return 1
    print(
        f"rotate-keys: waiting {wait_seconds:g} s for every listener to restart with its new key", flush=True
    )
    sleep(wait_seconds)
    old = store.active
    finish_rotation(store)
    save_store(store, path, vault_password_file)
    if not apply(f"3/3 generation {old} is removed from every host"):
        print("the store no longer holds the old generation: `syntraf-ctl apply` removes it from the hosts")
        return 1
    print(f"rotate-keys: done, every host uses generation {store.active}")
    return 0


def _load_rotating(path: str, vault_password_file: str | None) -> AuthStore:
    store = load_store(path, vault_password_file)
    if store is None:
        raise StoreError(f"{path}: no material to rotate (no host uses iperf3 authentication)")
    return store
