"""The pipeline every command shares: inventory -> model -> edges -> ports -> Plan, or a ValidationError."""

from __future__ import annotations

import argparse
import os

from ansible.errors import AnsibleError

from syntraf_ctl.auth.facts import apply_auth_rule
from syntraf_ctl.costs import concurrent_flows
from syntraf_ctl.inventory import LoadedInventory, error_problem
from syntraf_ctl.lockfile import lock_path, read_lock
from syntraf_ctl.mesh import Edge, compute_edges
from syntraf_ctl.model import Model, build_model
from syntraf_ctl.plan import Plan, format_bps
from syntraf_ctl.ports import assign_ports, count_kept
from syntraf_ctl.problems import Problem, ValidationError, display_path
from syntraf_ctl.render_target import contains


def compile_inventory(inventory_path: str, vault_password_file: str | None = None, lock: bool = True) -> Plan:
    """Compile an Ansible inventory (file or directory) into a validated plan.

    With `lock`, ports recorded in the inventory's lock file are kept; without, ports are assigned afresh.
    Nothing is written. Raises ValidationError listing every problem found.
    """
    if not os.path.exists(inventory_path):
        raise ValidationError([Problem(inventory_path, "inventory", "", "no such file or directory")])
    vault_checked = os.path.isdir(inventory_path) and vault_password_file is not None
    if vault_checked and contains(os.path.realpath(inventory_path), os.path.realpath(vault_password_file)):
        message = (
            "the vault password file is inside the inventory directory: Ansible would read it as an "
            "inventory source (and show the password as a host name); keep it outside"
        )
        raise ValidationError([Problem(display_path(vault_password_file), "inventory", "", message)])
    try:
        inventory = LoadedInventory(inventory_path, vault_password_file)
        model, problems = build_model(inventory)
    except AnsibleError as error:
        raise ValidationError([error_problem(error, display_path(inventory_path))]) from None
    # Every stage runs on what is valid so far, so one bad value does not hide the problems of later stages.
    edges, warnings = compute_edges(model)
    edges, auth, auth_problems = apply_auth_rule(model, edges, inventory.directory)
    problems += auth_problems
    warnings += auth.warnings
    problems += check_max_bandwidth(model, edges)
    path = lock_path(inventory.directory)
    previous, lock_problems = read_lock(path) if lock else (None, [])
    locked = previous.ports if previous else {}
    problems += lock_problems + assign_ports(edges, model.hosts, locked)
    if problems:
        raise ValidationError(problems)
    kept = count_kept(edges, locked)
    plan = Plan(model, edges, path, kept, versions_unknown=sorted(auth.unknown), previous=previous)
    plan.warnings = model.warnings + warnings + plan.large_group_warnings()
    return plan


def check_max_bandwidth(model: Model, edges: list[Edge]) -> list[Problem]:
    """A host's syntraf_max_bandwidth bounds what it sends in all groups together."""
    sent: dict[str, dict[str, int]] = {}
    for (group, uid), (flows, _) in concurrent_flows(model, edges).items():
        if flows:
            sent.setdefault(uid, {})[group] = flows * model.groups[group].traffic.bandwidth_bps
    problems = []
    for uid, per_group in sorted(sent.items()):
        host = model.hosts[uid]
        total = sum(per_group.values())
        if host.max_bandwidth_bps is not None and total > host.max_bandwidth_bps:
            detail = ", ".join(f"{group} {format_bps(bps)}" for group, bps in sorted(per_group.items()))
            problems.append(
                host.problem(
                    "syntraf_max_bandwidth",
                    f"the host sends {format_bps(total)} ({total} bit/s: {detail}), more than its maximum "
                    f"{format_bps(host.max_bandwidth_bps)}",
                )
            )
    return problems


def add_inventory_arguments(parser: argparse.ArgumentParser) -> None:
    """The -i/--vault-password-file options every command that compiles an inventory takes."""
    parser.add_argument("-i", "--inventory", required=True, help="Ansible inventory file or directory")
    parser.add_argument("--vault-password-file", help="file holding the Ansible Vault password")
