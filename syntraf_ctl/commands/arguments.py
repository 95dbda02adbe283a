"""The options several commands share: the inventory, the Ansible run, and the consent to tear down."""

from __future__ import annotations

import argparse


def add_inventory_arguments(parser: argparse.ArgumentParser) -> None:
    """The -i/--vault-password-file options every command that compiles an inventory takes."""
    parser.add_argument("-i", "--inventory", required=True, help="Ansible inventory file or directory")
    parser.add_argument("--vault-password-file", help="file holding the Ansible Vault password")


def add_run_arguments(parser: argparse.ArgumentParser, check_and_diff: bool = False) -> None:
    """Options every command that runs a playbook takes (with add_inventory_arguments)."""
    parser.add_argument("--limit", metavar="PATTERN", help="only these hosts (an Ansible host pattern)")
    parser.add_argument("--forks", type=int, metavar="N", help="hosts handled in parallel (ansible.cfg: 25)")
    if check_and_diff:
        parser.add_argument("--check", action="store_true", help="show what would change, change nothing")
        parser.add_argument("--diff", action="store_true", help="show the changes made to files")


def add_allow_destroy_argument(parser: argparse.ArgumentParser) -> None:
    """--allow-destroy: the consent a change that tears the mesh down needs (syntraf_ctl.consent)."""
    parser.add_argument(
        "--allow-destroy",
        action="store_true",
        help="accept a change that removes every locked edge of a mesh group, more than half of all locked "
        "edges, or the key material of more than half of the hosts (docs/refused.md)",
    )
