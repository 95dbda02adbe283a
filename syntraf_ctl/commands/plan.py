"""`syntraf-ctl plan`: compile the inventory and print the mesh plan and what it changes against the lock
file (text or JSON); writes nothing."""

from __future__ import annotations

import argparse

from syntraf_probe.json_text import format_json

from syntraf_ctl.commands.arguments import add_inventory_arguments
from syntraf_ctl.pipeline import compile_plan
from syntraf_ctl.problems import ValidationError, report


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "plan", help="validate the inventory and show every edge, port and total, and what changes"
    )
    add_inventory_arguments(parser)
    parser.add_argument(
        "--format", choices=("text", "json"), default="text", help="output format (default text)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        plan = compile_plan(args)
    except ValidationError as error:
        return report(error)
    if args.format == "json":
        print(format_json({**plan.to_json(), "changes": plan.changes().to_json()}))
    else:
        print(plan.to_text(), end="")
    return 0
