"""`syntraf-ctl render`: compile the inventory, write every host's document and files and the probe zipapp
under DIR (what `ansible-playbook syntraf.mesh.deploy -e syntraf_render_dir=DIR` deploys), and the lock file.

Every check (the output directory, the inventory, the destruction rule, a writable lock file) runs before
anything is written, key material included (docs/refused.md).
"""

from __future__ import annotations

import argparse

from syntraf_ctl.commands.arguments import add_allow_destroy_argument, add_inventory_arguments
from syntraf_ctl.commands.reporting import (
    COMPILE_ERRORS,
    PREPARE_ERRORS,
    print_warnings,
    report_compile_error,
    report_prepare_error,
)
from syntraf_ctl.consent import refused_without_consent
from syntraf_ctl.pipeline import compile_for_output, render
from syntraf_ctl.problems import EXIT_INVALID, display_path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "render", help="write each host's probe configs and systemd units to a directory"
    )
    add_inventory_arguments(parser)
    parser.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="DIR",
        help="directory to (re)create: new, empty, or an earlier render (a symlink: its target)",
    )
    add_allow_destroy_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        target, plan = compile_for_output(args)
    except COMPILE_ERRORS as error:
        return report_compile_error(error)
    changes = plan.changes()
    try:
        if refused_without_consent(plan, changes, args):
            return EXIT_INVALID
        render(plan, target, args)
    except PREPARE_ERRORS as error:
        return report_prepare_error(error)
    print_warnings(plan)
    print(changes.to_text(), end="")
    print(
        f"rendered {len(plan.edges)} edges for {len(plan.model.hosts)} hosts into {args.output}; "
        f"recorded in {display_path(plan.lock_path)}"
    )
    return 0
