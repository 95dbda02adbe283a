"""`syntraf-ctl destroy`: stop and remove everything syntraf installed on the inventory's hosts."""

from __future__ import annotations

import argparse

from syntraf_ctl.commands.arguments import add_inventory_arguments, add_run_arguments
from syntraf_ctl.pipeline import destroy
from syntraf_ctl.progress import print_summary


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "destroy", help="stop and remove syntraf's units, files, probe and user from the hosts"
    )
    add_inventory_arguments(parser)
    add_run_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    result = destroy(args)
    print_summary(result)
    print("destroyed" if result.succeeded else "destroy FAILED")
    return 0 if result.succeeded else 1
