"""Hosts' iperf3 versions, and the auth rule applied to the plan.

The versions come back as results of Ansible runs (`apply` reads the hosts whose version it does not know
yet, and every deploy reports the versions it saw); the lock file keeps them between runs. A host variable
`syntraf_iperf3_version` overrides them (for hosts not reached yet, or to plan ahead of an upgrade).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any, Protocol

from syntraf_ctl.auth.compat import Version, pair_auth, parse_version
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


def plan_auth(edges: Sequence[EdgeLike], versions: dict[str, Version | None]) -> AuthPlan:
    """Apply the version rule to every edge (pure). `versions`: uid -> version, None when unknown.

    The outcome depends only on the two ends' versions, so it is decided once per pair of versions; only
    edges whose pair needs something (PKCS#1 padding, or cannot work) are looked at one by one."""
    result = AuthPlan()
    ends = set(map(attrgetter("listener"), edges)) | set(map(attrgetter("initiator"), edges))
    known = {uid: version for uid in ends if (version := versions.get(uid)) is not None}
    result.unknown = ends - known.keys()
    seen = set(known.values())
    rules = {
        (a, b): rule for a in seen for b in seen if (rule := pair_auth(a, b)).problem or rule.pkcs1_padding
    }
    for edge in edges if rules else ():
        rule = rules.get((known.get(edge.listener), known.get(edge.initiator)))
        if rule is None:
            continue
        key = (edge.group, edge.src, edge.dst)
        if rule.problem:
            result.unsupported[key] = rule.problem
            result.warnings.append(
                f"mesh group {edge.group}: edge {edge.src} -> {edge.dst} left out: {edge.initiator} cannot "
                f"authenticate to {edge.listener}'s iperf3 listener: {rule.problem}"
            )
        else:
            result.pkcs1.add(key)
    if result.unknown:
        result.warnings.append(
            f"iperf3 version unknown for {name_list(sorted(result.unknown))}: `syntraf-ctl apply` reads "
            "it (or set syntraf_iperf3_version) so mixed 3.12/3.17+ pairs get --use-pkcs1-padding"
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
    hosts = model.hosts
    # Most meshes set auth once for all hosts: then no pair can disagree and no edge is looked at.
    if len({host.auth for host in hosts.values()}) > 1:
        for listener, initiator in sorted({(e.listener, e.initiator) for e in edges}):
            a, b = hosts[listener], hosts[initiator]
            if a.auth != b.auth:
                problems.append(_auth_disagrees(a, b))
        authenticated = [e for e in edges if hosts[e.listener].auth]
    else:
        authenticated = edges if any(host.auth for host in hosts.values()) else []
    rule = plan_auth(authenticated, host_versions(versions, hosts.values()))
    if not rule.pkcs1 and not rule.unsupported:
        return edges, rule, problems
    kept = []
    for edge in edges:
        key = (edge.group, edge.src, edge.dst)
        edge.pkcs1_padding = key in rule.pkcs1
        if key not in rule.unsupported:
            kept.append(edge)
    return kept, rule, problems


def _auth_disagrees(listener: Any, initiator: Any) -> Any:
    """The problem of an initiator whose syntraf_iperf3_auth differs from its listener's."""
    return initiator.problem(
        "syntraf_iperf3_auth",
        f"{initiator.uid} has it {'on' if initiator.auth else 'off'} but initiates tests to {listener.uid}, "
        f"which has it {'on' if listener.auth else 'off'}: set it once for all hosts (group_vars/all)",
    )
