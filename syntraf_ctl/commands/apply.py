"""`syntraf-ctl apply`: validate, plan and render the inventory, then deploy it with the deploy playbook.

Nothing is pushed anywhere unless the whole inventory is valid: validation errors exit with status 2 before
Ansible runs at all.
"""

from __future__ import annotations

import argparse

from syntraf_ctl.commands.arguments import (
    add_allow_destroy_argument,
    add_inventory_arguments,
    add_run_arguments,
)
from syntraf_ctl.commands.reporting import PREPARE_ERRORS, print_warnings, report_prepare_error
from syntraf_ctl.consent import refused_without_consent
from syntraf_ctl.pipeline import compile_for_deploy, deploy
from syntraf_ctl.problems import EXIT_INVALID, ValidationError, report
from syntraf_ctl.progress import print_summary, progress_for


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "apply", help="validate, render and deploy the mesh to the inventory's hosts"
    )
    add_inventory_arguments(parser)
    add_run_arguments(parser, check_and_diff=True)
    add_allow_destroy_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        plan = compile_for_deploy(args)
    except ValidationError as error:
        return report(error)
    print_warnings(plan)
    changes = plan.changes()
    print(changes.to_text(), end="")
    mode = " (check mode: nothing is changed)" if args.check else ""
    try:
        if refused_without_consent(plan, changes, args):
            return EXIT_INVALID
        print(f"applying {len(plan.edges)} edges on {len(plan.model.hosts)} hosts{mode}", flush=True)
        result = deploy(plan, args, progress_for(show_diff=args.diff))
    except PREPARE_ERRORS as error:
        return report_prepare_error(error)
    print_summary(result)
    verdict = "would change" if args.check else "changed"
    print(f"{verdict} {result.changed} things" if result.succeeded else "apply FAILED")
    return 0 if result.succeeded else 1
