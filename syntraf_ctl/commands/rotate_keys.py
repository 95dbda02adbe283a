"""`syntraf-ctl rotate-keys`: replace every host's iperf3 authentication material without losing a test.

Three deploys (docs/security.md, "rotation"):
1. accept: a new generation is created; listeners accept the passwords of both (iperf3 re-reads its users
   file at every connection, so nothing restarts);
2. switch: listeners get their new private key (each listener's iperf3 restarts between two bounded tests),
   initiators the new passwords and public keys, keeping the old public key as a fallback for listeners
   that have not restarted yet; then it waits one test duration, so every listener has switched;
3. finish: the old generation is deleted from the store and from every host.
The phase reached is saved in the store after each step: after a failure, run the command again to go on
from there (or `apply` once the last step's store change is saved).
"""

from __future__ import annotations

import argparse
import os
import sys

from syntraf_ctl.auth.prepare import prepare_or_report
from syntraf_ctl.auth.store import StoreError, store_path
from syntraf_ctl.commands.arguments import (
    add_allow_destroy_argument,
    add_inventory_arguments,
    add_run_arguments,
)
from syntraf_ctl.commands.reporting import PREPARE_ERRORS, report_prepare_error
from syntraf_ctl.consent import refused_without_consent
from syntraf_ctl.pipeline import SWITCH_MARGIN, compile_for_deploy, deploy, rotate, switch_wait
from syntraf_ctl.problems import EXIT_INVALID, ValidationError, report
from syntraf_ctl.progress import print_summary, progress_for


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "rotate-keys",
        help="replace the iperf3 keys and passwords of every host, without a gap in measurement",
    )
    add_inventory_arguments(parser)
    add_run_arguments(parser)
    add_allow_destroy_argument(parser)
    parser.add_argument(
        "--switch-wait",
        type=float,
        metavar="SECONDS",
        help="how long listeners get to restart with their new key (default: the longest test duration "
        f"+ {SWITCH_MARGIN:g} s)",
    )
    parser.set_defaults(func=run, check=False, diff=False)


def run(args: argparse.Namespace) -> int:
    try:
        plan = compile_for_deploy(args)
    except ValidationError as error:
        return report(error)
    try:
        if refused_without_consent(plan, plan.changes(), args):
            return EXIT_INVALID
    except StoreError as error:
        return report_prepare_error(error)
    if not prepare_or_report(plan, args.vault_password_file):
        return 1
    progress = progress_for()

    def apply(step: str) -> bool:
        print(f"rotate-keys: {step}", flush=True)
        try:
            result = deploy(plan, args, progress)
        except PREPARE_ERRORS as error:
            report_prepare_error(error)
            return False
        print_summary(result)
        if not result.succeeded:
            print(f"rotate-keys stopped at: {step}; run it again to go on from there", file=sys.stderr)
        return result.succeeded

    path = store_path(os.path.dirname(plan.lock_path))  # the store lives beside the lock file
    try:
        return rotate(path, args.vault_password_file, apply, args.switch_wait or switch_wait(plan))
    except StoreError as error:
        print(f"syntraf-ctl: rotate-keys: {error}", file=sys.stderr)
        return 1
