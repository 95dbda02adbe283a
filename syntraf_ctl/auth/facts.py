"""Hosts' iperf3 versions, and the auth rule applied to the plan.

The versions come back as results of Ansible runs (`apply` reads the hosts whose version it does not know
yet, and every deploy reports the versions it saw); the lock file keeps them between runs. A host variable
`syntraf_iperf3_version` overrides them (for hosts not reached yet, or to plan ahead of an upgrade).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from syntraf_ctl.auth.compat import PairAuth, Version, pair_auth, parse_version
from syntraf_ctl.messages import name_list

VersionReader = Callable[[list[Any]], dict[str, str]]  # hosts -> inventory hostname -> `iperf3 --version`


class EdgeLike(Protocol):
    group: str
    src: str
    dst: str
    listener: str
    initiator: str


@dataclass
class AuthPlan:
    """The rule applied to every edge: PKCS#1 edges, edges that cannot authenticate, and what to say."""

    pkcs1: set[tuple[str, str, str]] = field(default_factory=set)  # edge keys (group, src, dst)
    unsupported: dict[tuple[str, str, str], str] = field(default_factory=dict)  # edge key -> reason
    warnings: list[str] = field(default_factory=list)
    unknown: set[str] = field(default_factory=set)  # uids whose iperf3 version nobody recorded yet


def plan_auth(edges: Iterable[EdgeLike], versions: dict[str, Version | None]) -> AuthPlan:
    """Apply the version rule to every edge (pure). `versions`: uid -> version, None when unknown."""
    result = AuthPlan()
    unknown = result.unknown
    for edge in edges:
        listener, initiator = versions.get(edge.listener), versions.get(edge.initiator)
        if listener is None or initiator is None:
            unknown.update(uid for uid in (edge.listener, edge.initiator) if versions.get(uid) is None)
            continue
        rule: PairAuth = pair_auth(listener, initiator)
        key = (edge.group, edge.src, edge.dst)
        if rule.problem:
            result.unsupported[key] = rule.problem
            result.warnings.append(
                f"mesh group {edge.group}: edge {edge.src} -> {edge.dst} left out: {edge.initiator} cannot "
                f"authenticate to {edge.listener}'s iperf3 listener: {rule.problem}"
            )
        elif rule.pkcs1_padding:
            result.pkcs1.add(key)
    if unknown:
        result.warnings.append(
            f"iperf3 version unknown for {name_list(sorted(unknown))}: `syntraf-ctl apply` reads it (or set "
            "syntraf_iperf3_version) so mixed 3.12/3.17+ pairs get --use-pkcs1-padding"
        )
    return result


def host_versions(recorded: dict[str, str], hosts: Iterable[Any]) -> dict[str, Version | None]:
    """uid -> version of each host (`name`, `uid`, `iperf3_version` override), the override first."""
    versions: dict[str, Version | None] = {}
    for host in hosts:
        text = getattr(host, "iperf3_version", None) or recorded.get(host.name)
        try:
            versions[host.uid] = parse_version(text) if text else None
        except ValueError:
            versions[host.uid] = None
    return versions


def known_versions(
    recorded: dict[str, str], hosts: Iterable[Any], read: VersionReader | None
) -> dict[str, str]:
    """inventory hostname -> iperf3 version ("3.12") of every host: recorded ones, then those `read` finds
    for the hosts with neither a recorded version nor an override (unreachable hosts stay unknown)."""
    versions = dict(recorded)
    missing = [
        host for host in hosts if not getattr(host, "iperf3_version", None) and host.name not in versions
    ]
    for name, text in (read(missing) if read and missing else {}).items():
        version = version_text(text)
        if version:  # else iperf3 is missing there: the deploy installs it and reports its version
            versions[name] = version
    return versions


def version_text(output: str) -> str | None:
    """`iperf 3.12 (cJSON 1.7.15)` -> "3.12"; None when `output` holds no version."""
    try:
        major, minor = parse_version(output)
    except ValueError:
        return None
    return f"{major}.{minor}"


def apply_auth_rule(
    model: Any, edges: list[Any], versions: dict[str, str]
) -> tuple[list[Any], AuthPlan, list[Any]]:
    """Mark the edges that need --use-pkcs1-padding, leave out those that cannot authenticate.

    `versions`: inventory hostname -> iperf3 version. Returns (kept edges, the rule's outcome, problems).
    Both ends of an edge must agree on syntraf_iperf3_auth: an initiator without credentials cannot reach a
    listener that requires them.
    """
    problems = []
    for listener, initiator in sorted({(e.listener, e.initiator) for e in edges}):
        a, b = model.hosts[listener], model.hosts[initiator]
        if a.auth != b.auth:
            problems.append(
                b.problem(
                    "syntraf_iperf3_auth",
                    f"{b.uid} has it {'on' if b.auth else 'off'} but initiates tests to {a.uid}, which has "
                    f"it {'on' if a.auth else 'off'}: set it once for all hosts (group_vars/all)",
                )
            )
    rule = plan_auth(
        [e for e in edges if model.hosts[e.listener].auth], host_versions(versions, model.hosts.values())
    )
    for edge in edges:
        edge.pkcs1_padding = edge.key in rule.pkcs1
    return [e for e in edges if e.key not in rule.unsupported], rule, problems
