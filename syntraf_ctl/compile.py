"""The compile step of syntraf_ctl.pipeline: inventory -> model -> edges -> ports -> a Plan."""

from __future__ import annotations

import os

from ansible.errors import AnsibleError

from syntraf_ctl.ansible_inventory import LoadedInventory, error_problem
from syntraf_ctl.auth.facts import VersionReader, apply_auth_rule, known_versions
from syntraf_ctl.costs import concurrent_flows
from syntraf_ctl.gc_pause import gc_paused
from syntraf_ctl.lockfile import LockState, lock_path, read_lock
from syntraf_ctl.mesh import Edge, compute_edges
from syntraf_ctl.model import Model, build_model
from syntraf_ctl.observability.thresholds import group_thresholds
from syntraf_ctl.plan import Plan, format_bps
from syntraf_ctl.ports import Assignment, assign_ports
from syntraf_ctl.problems import Problem, ValidationError, display_path
from syntraf_ctl.render_target import contains

PACK_GROUPS = ("syntraf_grafana", "syntraf_alerting")  # where `apply` deploys the observability pack


def compile_inventory(
    inventory_path: str,
    vault_password_file: str | None = None,
    lock: bool = True,
    read_versions: VersionReader | None = None,
) -> Plan:
    """Compile an Ansible inventory (file or directory) into a validated plan.

    With `lock`, ports and iperf3 versions recorded in the inventory's lock file are kept; without, ports
    are assigned afresh. `read_versions` asks the hosts whose iperf3 version is not known yet (apply runs
    Ansible for it). Nothing is written. Raises ValidationError listing every problem found.
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
        alerts, alert_problems = group_thresholds(model, inventory.globals())
        problems += alert_problems
    except AnsibleError as error:
        raise ValidationError([error_problem(error, display_path(inventory_path))]) from None
    path = lock_path(inventory.directory)
    previous, lock_problems = read_lock(path) if lock else (None, [])
    problems += lock_problems
    versions = dict(previous.versions) if previous else {}
    edges, warnings, stage_problems, ports = plan_edges(model, versions, previous)
    # Hosts are asked only about a valid inventory; what they say changes the auth rule's outcome only.
    if read_versions and not problems + stage_problems:
        planned = {uid for edge in edges for uid in (edge.src, edge.dst)}
        asked = known_versions(versions, [model.hosts[uid] for uid in sorted(planned)], read_versions)
        if asked != versions:
            versions = asked
            edges, warnings, stage_problems, ports = plan_edges(model, versions, previous)
    problems += stage_problems
    if problems:
        raise ValidationError(problems)
    plan = Plan(
        model,
        edges,
        path,
        ports.kept,
        rotating_ports=ports.rotating,
        iperf3_versions=versions,
        previous=previous,
        alerts=alerts,
        pack_hosts=sorted(
            {name for group in PACK_GROUPS if inventory.has_group(group) for name in inventory.match(group)}
        ),
    )
    plan.warnings = model.warnings + warnings + plan.large_group_warnings()
    return plan


def plan_edges(
    model: Model, versions: dict[str, str], previous: LockState | None
) -> tuple[list[Edge], list[str], list[Problem], Assignment]:
    """The model's edges with the auth rule applied and their ports: (edges, warnings, problems, what the
    port assignment decided). Every stage runs on what is valid so far, so one bad value does not hide the
    problems of later stages."""
    with gc_paused():
        edges, warnings = compute_edges(model)
        edges, auth, problems = apply_auth_rule(model, edges, versions)
        warnings += auth.warnings
        problems += check_max_bandwidth(model, edges)
        ports = assign_ports(edges, model, *((previous.ports, previous.rotating) if previous else ({}, {})))
    return edges, warnings, problems + ports.problems, ports


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
