"""`syntraf-ctl status`: per group a loss/jitter grid and per host the probe units, read from the hosts'
state files through Ansible (so it works when the database is down)."""

from __future__ import annotations

import argparse
import json
import sys

from syntraf_ctl.commands.arguments import add_inventory_arguments, add_run_arguments
from syntraf_ctl.pipeline import compile_plan, read_status
from syntraf_ctl.problems import ValidationError
from syntraf_ctl.progress import PlainProgress
from syntraf_ctl.status import build_report, format_text


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("status", help="show each group's last loss/jitter and each host's probes")
    add_inventory_arguments(parser)
    add_run_arguments(parser)
    parser.add_argument("--format", choices=["text", "json"], default="text")
    parser.set_defaults(func=run)


def planned(args: argparse.Namespace) -> tuple[list[tuple[str, str, str]] | None, list[str]]:
    """Every planned edge, so that unreported ones show (None, and a warning, if the inventory is
    invalid), and the rotating groups, whose grids show when each pair was last measured."""
    try:
        plan = compile_plan(args)
    except ValidationError as error:
        print(
            f"warning: the inventory is invalid, showing only what the hosts report:\n{error}",
            file=sys.stderr,
        )
        return None, []
    rotating = [name for name, group in plan.model.groups.items() if group.topology.kind == "rotating"]
    return [edge.key for edge in plan.edges], rotating


def run(args: argparse.Namespace) -> int:
    edges, rotating = planned(args)
    result = read_status(args, PlainProgress(sys.stderr, only_failures=True))
    failures = {
        failure.host: failure.message for failure in result.failures if failure.host not in result.results
    }
    report = build_report(result.results, failures, edges, rotating)
    if args.format == "json":
        print(json.dumps(report.to_json(), indent=2))
    else:
        print(format_text(report), end="")
    return 0 if result.succeeded and report.healthy else 1
