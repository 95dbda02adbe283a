"""`syntraf-ctl apply`: validate, plan and render the inventory, then deploy it with the deploy playbook.

Nothing is pushed anywhere unless the whole inventory is valid: validation errors exit with status 2 before
Ansible runs at all.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from dataclasses import replace

from syntraf_ctl.artifact import Artifact, ArtifactError, build
from syntraf_ctl.auth.prepare import announce_material, material_for_check
from syntraf_ctl.auth.store import StoreError
from syntraf_ctl.commands.render import report_write_error
from syntraf_ctl.compile import add_inventory_arguments, compile_inventory
from syntraf_ctl.consent import add_allow_destroy_argument, refused_without_consent
from syntraf_ctl.messages import name_list
from syntraf_ctl.plan import Plan
from syntraf_ctl.problems import EXIT_INVALID, ValidationError, report
from syntraf_ctl.render import render_plan, render_to, write_tree
from syntraf_ctl.runner import (
    PlaybookRun,
    Progress,
    add_run_arguments,
    options_from_args,
    print_summary,
    progress_for,
    run_playbook,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "apply", help="validate, render and deploy the mesh to the inventory's hosts"
    )
    add_inventory_arguments(parser)
    add_run_arguments(parser, check_and_diff=True)
    add_allow_destroy_argument(parser)
    parser.set_defaults(func=run)


def deploy(
    plan: Plan, args: argparse.Namespace, progress: Progress, artifact: Artifact | None = None
) -> PlaybookRun:
    """Render `plan` and build the probe artifact (unless given), then run the deploy playbook.

    With --check, nothing beside the inventory is written: no lock file, no key material (hosts still
    without material get some in the run's temporary directory, deleted afterwards).
    Raises ArtifactError, StoreError, OSError."""
    artifact = artifact or build()
    with tempfile.TemporaryDirectory(prefix="syntraf-apply-") as work:
        render_dir = os.path.join(work, "rendered")
        extravars = {
            "syntraf_rendered": True,
            "syntraf_render_dir": render_dir,
            "syntraf_probe_artifact": artifact.path,
            "syntraf_probe_python_min_version": artifact.requires_python,
        }
        if args.check:
            write_tree(render_plan(plan), render_dir)
            store = material_for_check(plan, args.vault_password_file, work)
            if store:
                extravars["syntraf_probe_auth_store"] = store
        else:
            render_to(plan, render_dir, lambda: announce_material(plan, args.vault_password_file))
        return run_playbook("deploy.yml", options_from_args(args, extravars), progress)


def record_versions(plan: Plan, args: argparse.Namespace) -> PlaybookRun:
    """Run the preflight on the hosts whose iperf3 version the auth rule needs, so that the very first apply
    of a mixed 3.12/3.17+ mesh already gives each pair the padding it needs."""
    names = sorted(plan.model.hosts[uid].name for uid in plan.versions_unknown)
    limit = ":".join(names) + (f":&{args.limit}" if args.limit else "")
    print(f"recording the iperf3 versions of {name_list(names)} (playbooks/preflight.yml)", flush=True)
    options = replace(options_from_args(args), limit=limit, check=False, diff=False)  # changes no host
    return run_playbook("preflight.yml", options, progress_for())


def run(args: argparse.Namespace) -> int:
    try:
        plan = compile_inventory(args.inventory, args.vault_password_file)
        if plan.versions_unknown:
            recorded = record_versions(plan, args)
            if not recorded.succeeded:  # those hosts fail the deploy too; the others go ahead
                print_summary(recorded)
            plan = compile_inventory(args.inventory, args.vault_password_file)
    except ValidationError as error:
        return report(error)
    for warning in plan.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    changes = plan.changes()
    print(changes.to_text(), end="")
    mode = " (check mode: nothing is changed)" if args.check else ""
    try:
        if refused_without_consent(plan, changes, args):
            return EXIT_INVALID
        print(f"applying {len(plan.edges)} edges on {len(plan.model.hosts)} hosts{mode}", flush=True)
        result = deploy(plan, args, progress_for(show_diff=args.diff))
    except ArtifactError as error:
        print(f"syntraf-ctl: cannot build the probe artifact: {error}", file=sys.stderr)
        return 1
    except (StoreError, OSError) as error:
        return report_write_error(error)
    print_summary(result)
    verdict = "would change" if args.check else "changed"
    print(f"{verdict} {result.changed} things" if result.succeeded else "apply FAILED")
    return 0 if result.succeeded else 1
