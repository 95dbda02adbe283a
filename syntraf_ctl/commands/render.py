"""`syntraf-ctl render`: compile the inventory, write every host's files under DIR and the port lock file."""

from __future__ import annotations

import argparse
import os
import sys

from syntraf_ctl.auth.prepare import prepare_or_report
from syntraf_ctl.compile import add_inventory_arguments, compile_inventory
from syntraf_ctl.problems import EXIT_INVALID, ValidationError, display_path, report
from syntraf_ctl.render import render_to


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "render", help="write each host's probe configs and systemd units to a directory"
    )
    add_inventory_arguments(parser)
    parser.add_argument("-o", "--output", required=True, metavar="DIR", help="directory to (re)create")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if _inside_inventory_directory(args.output, args.inventory):
        print(
            f"syntraf-ctl: {args.output} is inside the inventory directory {args.inventory}: "
            "Ansible would read the rendered files as inventory sources; render somewhere else",
            file=sys.stderr,
        )
        return EXIT_INVALID
    try:
        plan = compile_inventory(args.inventory, args.vault_password_file)
    except ValidationError as error:
        return report(error)
    if not prepare_or_report(plan, args.vault_password_file):
        return 1
    try:
        render_to(plan, args.output)
    except OSError as error:
        print(f"syntraf-ctl: cannot write the rendered files or the lock file: {error}", file=sys.stderr)
        return 1
    for warning in plan.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(
        f"rendered {len(plan.edges)} edges for {len(plan.model.hosts)} hosts into {args.output}; "
        f"ports locked in {display_path(plan.lock_path)}"
    )
    return 0


def _inside_inventory_directory(output: str, inventory: str) -> bool:
    if not os.path.isdir(inventory):
        return False
    inventory, output = os.path.realpath(inventory), os.path.realpath(output)
    return os.path.commonpath([inventory, output]) == inventory
