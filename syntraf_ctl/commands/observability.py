"""`syntraf-ctl observability`: write the observability pack (dashboards, provisioning, rules) to DIR.

Everything is checked (the output directory, the inventory, the alert thresholds) before anything is written.
"""

from __future__ import annotations

import argparse
import sys

from syntraf_ctl.commands.arguments import add_inventory_arguments
from syntraf_ctl.commands.reporting import COMPILE_ERRORS, report_compile_error
from syntraf_ctl.observability.pack import BACKENDS, compile_pack, write_pack
from syntraf_ctl.pipeline import compile_for_output


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "observability",
        help="write Grafana dashboards and provisioning, alert and recording rules to a directory",
    )
    add_inventory_arguments(parser)
    parser.add_argument("-o", "--output", required=True, metavar="DIR", help="directory to (re)create")
    parser.add_argument(
        "--backend",
        action="append",
        choices=BACKENDS,
        help="query language of the dashboards (repeatable; default: all)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        target, plan = compile_for_output(args)
    except COMPILE_ERRORS as error:
        return report_compile_error(error)
    limits = plan.alerts
    tree = compile_pack(plan, limits, tuple(sorted(set(args.backend or BACKENDS))))
    try:
        write_pack(tree, target)
    except OSError as error:
        print(f"syntraf-ctl: cannot write the observability pack: {error}", file=sys.stderr)
        return 1
    print(f"wrote {len(tree.files) - 1} files for {len(limits)} mesh groups into {args.output}")
    return 0
