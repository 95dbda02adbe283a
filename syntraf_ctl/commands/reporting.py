"""What several commands print the same way: the plan's warnings and the errors of the prepare and deploy
steps."""

from __future__ import annotations

import sys

from syntraf_ctl.artifact import ArtifactError
from syntraf_ctl.auth.store import StoreError
from syntraf_ctl.plan import Plan
from syntraf_ctl.problems import EXIT_INVALID, ValidationError, report
from syntraf_ctl.render_target import OutputRefused

COMPILE_ERRORS = (OutputRefused, ValidationError)  # what report_compile_error explains
PREPARE_ERRORS = (ArtifactError, StoreError, OSError)  # what report_prepare_error explains


def print_warnings(plan: Plan) -> None:
    for warning in plan.warnings:
        print(f"warning: {warning}", file=sys.stderr)


def report_compile_error(error: Exception) -> int:
    """What render and observability say when the output directory is refused or the inventory is invalid;
    the exit status."""
    if isinstance(error, ValidationError):
        return report(error)
    print(f"syntraf-ctl: {error}", file=sys.stderr)
    return EXIT_INVALID


def report_prepare_error(error: Exception) -> int:
    """What render, apply and rotate-keys say when the probe artifact cannot be built, or the key store, the
    lock file or the rendered files cannot be written; the exit status."""
    if isinstance(error, ArtifactError):
        print(f"syntraf-ctl: cannot build the probe artifact: {error}", file=sys.stderr)
    elif isinstance(error, StoreError):
        print(f"syntraf-ctl: iperf3 authentication material: {error}", file=sys.stderr)
    else:
        print(f"syntraf-ctl: cannot write the rendered files or the lock file: {error}", file=sys.stderr)
    return 1
