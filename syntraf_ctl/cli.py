"""The `syntraf-ctl` command line: one subcommand per module in `syntraf_ctl.commands`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

# Each entry names a module with `register(subparsers)`; registration sets `func` to the module's `run`.
COMMAND_MODULES: list[str] = [
    "import_toml",
    "plan",
    "render",
    "lab",
    "apply",
    "destroy",
    "status",
    "rotate_keys",
    "observability",
]


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = argparse.ArgumentParser(
        prog="syntraf-ctl",
        description="Measure every path of a network mesh with iperf3, deployed by Ansible.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"syntraf_ctl.commands.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
