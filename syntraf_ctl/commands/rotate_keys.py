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
import time
from collections.abc import Callable

from syntraf_ctl.artifact import ArtifactError
from syntraf_ctl.auth.prepare import prepare_or_report
from syntraf_ctl.auth.store import (
    AuthStore,
    StoreError,
    begin_rotation,
    finish_rotation,
    load_store,
    save_store,
    store_path,
    switch_rotation,
)
from syntraf_ctl.commands.render import report_write_error
from syntraf_ctl.compile import add_inventory_arguments
from syntraf_ctl.consent import add_allow_destroy_argument, refused_without_consent
from syntraf_ctl.pipeline import compile_for_deploy, deploy
from syntraf_ctl.plan import Plan
from syntraf_ctl.problems import EXIT_INVALID, ValidationError, display_path, report
from syntraf_ctl.runner import add_run_arguments, print_summary, progress_for

SWITCH_MARGIN = 30.0  # seconds beyond one test duration: a test's handshake and the probe's restart delays


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


def switch_wait(plan: Plan) -> float:
    """Every listener restarts its iperf3 at the end of its current test: one test duration at most."""
    return max((host.test_duration for host in plan.model.hosts.values()), default=0) + SWITCH_MARGIN


def run(args: argparse.Namespace) -> int:
    try:
        plan = compile_for_deploy(args)
    except ValidationError as error:
        return report(error)
    try:
        if refused_without_consent(plan, plan.changes(), args):
            return EXIT_INVALID
    except StoreError as error:
        return report_write_error(error)
    if not prepare_or_report(plan, args.vault_password_file):
        return 1
    path = store_path(plan_directory(plan))
    progress = progress_for()

    def apply(step: str) -> bool:
        print(f"rotate-keys: {step}", flush=True)
        try:
            result = deploy(plan, args, progress)
        except ArtifactError as error:
            print(f"syntraf-ctl: cannot build the probe artifact: {error}", file=sys.stderr)
            return False
        except (StoreError, OSError) as error:
            report_write_error(error)
            return False
        print_summary(result)
        if not result.succeeded:
            print(f"rotate-keys stopped at: {step}; run it again to go on from there", file=sys.stderr)
        return result.succeeded

    try:
        return rotate(path, args.vault_password_file, apply, args.switch_wait or switch_wait(plan))
    except StoreError as error:
        print(f"syntraf-ctl: rotate-keys: {error}", file=sys.stderr)
        return 1


def rotate(
    path: str,
    vault_password_file: str | None,
    apply: Callable[[str], bool],
    wait_seconds: float,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Drive the rotation from the phase saved in the store at `path` to its end; 0 when done."""
    store = _load(path, vault_password_file)
    if store.rotation is None:
        begin_rotation(store)
        save_store(store, path, vault_password_file)
        print(f"rotate-keys: generation {store.rotation.to} created in {display_path(path)}")
    if store.rotation.phase == "accept":
        if not apply(f"1/3 listeners accept generations {store.active} and {store.rotation.to}"):
            return 1
        switch_rotation(store)
        save_store(store, path, vault_password_file)
    if not apply(f"2/3 every host switches to generation {store.rotation.to}"):
        return 1
    print(
        f"rotate-keys: waiting {wait_seconds:g} s for every listener to restart with its new key", flush=True
    )
    sleep(wait_seconds)
    old = store.active
    finish_rotation(store)
    save_store(store, path, vault_password_file)
    if not apply(f"3/3 generation {old} is removed from every host"):
        print("the store no longer holds the old generation: `syntraf-ctl apply` removes it from the hosts")
        return 1
    print(f"rotate-keys: done, every host uses generation {store.active}")
    return 0


def plan_directory(plan: Plan) -> str:
    """The inventory directory: where the lock file and the store live."""
    return os.path.dirname(plan.lock_path)


def _load(path: str, vault_password_file: str | None) -> AuthStore:
    store = load_store(path, vault_password_file)
    if store is None:
        raise StoreError(f"{path}: no material to rotate (no host uses iperf3 authentication)")
    return store
