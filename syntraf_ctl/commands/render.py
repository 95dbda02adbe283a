"""`syntraf-ctl render`: compile the inventory, write every host's document and files and the probe zipapp
under DIR (what `ansible-playbook syntraf.mesh.deploy -e syntraf_render_dir=DIR` deploys), and the lock file.

Every check (the output directory, the inventory, the destruction rule, a writable lock file) runs before
anything is written, key material included (docs/refused.md).
"""

from __future__ import annotations

import argparse
import sys

from syntraf_ctl.artifact import ArtifactError, build
from syntraf_ctl.auth.prepare import announce_material
from syntraf_ctl.auth.store import StoreError
from syntraf_ctl.compile import add_inventory_arguments, compile_for_output
from syntraf_ctl.consent import add_allow_destroy_argument, refused_without_consent
from syntraf_ctl.pipeline import render_tree
from syntraf_ctl.problems import EXIT_INVALID, display_path
from syntraf_ctl.render import render_to


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
    prepared = compile_for_output(args)
    if isinstance(prepared, int):
        return prepared
    target, plan = prepared
    changes = plan.changes()
    try:
        if refused_without_consent(plan, changes, args):
            return EXIT_INVALID
        tree = render_tree(plan, build().path)
        render_to(plan, target, tree, lambda: announce_material(plan, args.vault_password_file))
    except ArtifactError as error:
        print(f"syntraf-ctl: cannot build the probe artifact: {error}", file=sys.stderr)
        return 1
    except (StoreError, OSError) as error:
        return report_write_error(error)
    for warning in plan.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(changes.to_text(), end="")
    print(
        f"rendered {len(plan.edges)} edges for {len(plan.model.hosts)} hosts into {args.output}; "
        f"recorded in {display_path(plan.lock_path)}"
    )
    return 0


def report_write_error(error: Exception) -> int:
    """What render and apply say when the key store, the lock file or the rendered files cannot be written."""
    if isinstance(error, StoreError):
        print(f"syntraf-ctl: iperf3 authentication material: {error}", file=sys.stderr)
    else:
        print(f"syntraf-ctl: cannot write the rendered files or the lock file: {error}", file=sys.stderr)
    return 1
