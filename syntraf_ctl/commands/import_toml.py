"""`syntraf-ctl import-toml`: turn an original SYNTRAF TOML config into a syntraf inventory directory."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from syntraf_ctl.importer import ConfigImportError, convert
from syntraf_ctl.importer.notes import summary
from syntraf_ctl.importer.output import check_output, encrypt_secret_files, write_inventory
from syntraf_ctl.importer.validate import plan_problems
from syntraf_ctl.problems import EXIT_INVALID, ValidationError, report


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "import-toml",
        help="write an Ansible inventory from a SYNTRAF TOML config",
        description="Write an Ansible inventory directory that measures the same mesh as a SYNTRAF server's "
        "TOML config, and print a migration summary (what changed, what is gone and why).",
    )
    parser.add_argument("config", type=Path, metavar="SYNTRAF_CONF", help="the SYNTRAF server's TOML file")
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        required=True,
        metavar="INVENTORY_DIR",
        help="directory to write the inventory into (created if missing)",
    )
    parser.add_argument("--force", action="store_true", help="overwrite files that already exist")
    parser.add_argument(
        "--vault-password-file",
        type=Path,
        help="encrypt group_vars/all/vault.yml (the InfluxDB tokens) with this ansible-vault password",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        text = args.config.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"syntraf-ctl import-toml: {args.config}: cannot read: {exc}", file=sys.stderr)
        return 1
    try:
        inventory = convert(text, str(args.config))
        files = inventory.files
        if args.vault_password_file:
            files = encrypt_secret_files(inventory, args.vault_password_file)
        check_output(files, args.output, args.force)
        problems = plan_problems(inventory, files, args.vault_password_file, args.output)
        if problems:
            report(ValidationError(problems))
            print("syntraf-ctl import-toml: plan would refuse it; nothing written", file=sys.stderr)
            return EXIT_INVALID
        written = write_inventory(files, inventory.secret_files, args.output)
    except ConfigImportError as exc:
        print(f"syntraf-ctl import-toml: {exc}; nothing written", file=sys.stderr)
        return EXIT_INVALID
    except OSError as exc:  # a full disk or a permission error half-way: say which file
        print(f"syntraf-ctl import-toml: cannot write {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 1
    print(f"Wrote {len(written)} files to {args.output}:")
    print("\n".join(f"  {path}" for path in written))
    if inventory.secret_files and not args.vault_password_file:
        print(
            "The InfluxDB tokens are in plain text in "
            + ", ".join(sorted(inventory.secret_files))
            + ": encrypt with `ansible-vault encrypt` before committing."
        )
    notes = summary(inventory.notes)
    if notes:
        print("\nMigration summary\n" + notes)
    return 0
