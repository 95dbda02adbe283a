"""What a plan changes against the lock file, as `terraform plan` shows it, and when that needs consent.

Edges are named by their lock key `group/src/dst`. An edge is changed when its listener, port or traffic
(bandwidth, packet size, packet rate, DSCP, interval) differs from what the lock file recorded. Hosts are
those in at least one enabled mesh group; a host is changed when its address is.

The destruction rule (docs/refused.md): a change that removes every locked edge of a mesh group, or more than
half of all locked edges, is refused unless the operator passes --allow-destroy. One typo in a CI deploy (a
misspelt `members:` pattern, a renamed group) then stops at the controller instead of tearing the mesh down.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from syntraf_ctl.lockfile import LockState
from syntraf_ctl.messages import name_list
from syntraf_ctl.ports import RotatingPorts

Diff = dict[str, list[Any]]  # setting -> [before, after]


@dataclass
class Changes:
    locked: bool  # whether there was a lock file to compare with
    locked_edges: int
    edges_added: list[str] = field(default_factory=list)
    edges_removed: list[str] = field(default_factory=list)
    edges_changed: dict[str, Diff] = field(default_factory=dict)
    hosts_added: list[str] = field(default_factory=list)
    hosts_removed: list[str] = field(default_factory=list)
    hosts_changed: dict[str, Diff] = field(default_factory=dict)
    destruction: list[str] = field(default_factory=list)  # why the change needs --allow-destroy

    def to_json(self) -> dict[str, Any]:
        """The `changes` object of `plan --format json` (docs/plan-json.md)."""
        return {
            "locked": self.locked,
            "locked_edges": self.locked_edges,
            "edges": {
                "added": self.edges_added,
                "removed": self.edges_removed,
                "changed": self.edges_changed,
            },
            "hosts": {
                "added": self.hosts_added,
                "removed": self.hosts_removed,
                "changed": self.hosts_changed,
            },
            "destruction": self.destruction,
        }

    def to_text(self) -> str:
        if not self.locked:
            return "changes: no lock file yet, every edge is new\n"
        lines = [
            f"changes against the lock file: {len(self.edges_added)} edges added, "
            f"{len(self.edges_removed)} removed, {len(self.edges_changed)} changed "
            f"(of {self.locked_edges} locked); {len(self.hosts_added)} hosts added, "
            f"{len(self.hosts_removed)} removed"
        ]
        for sign, names in (("+", self.edges_added), ("-", self.edges_removed)):
            if names:
                lines.append(f"  {sign} edges {name_list(names)}")
        if self.edges_changed:
            lines.append(f"  ~ edges {name_list(_described(self.edges_changed))}")
        for sign, names in (("+", self.hosts_added), ("-", self.hosts_removed)):
            if names:
                lines.append(f"  {sign} hosts {name_list(names)}")
        if self.hosts_changed:
            lines.append(f"  ~ hosts {name_list(_described(self.hosts_changed))}")
        lines.extend(f"  ! {reason}: needs --allow-destroy" for reason in self.destruction)
        return "\n".join(lines) + "\n"


def compare(previous: LockState | None, planned: LockState) -> Changes:
    """The changes from the lock file's state `previous` (None: no lock file) to the `planned` one."""
    if previous is None:
        return Changes(locked=False, locked_edges=0)
    # A rotating group has up to N(N-1) block edges: where its traffic stayed, they are compared per listener
    # (syntraf_ctl.ports.RotatingPorts), not one by one.
    paired = {
        group
        for group in previous.rotating.keys() & planned.rotating.keys()
        if not _diff(previous.groups.get(group, {}), planned.groups.get(group, {}))
    }
    before, after = _edges(previous, paired), _edges(planned, paired)
    added, removed = after.keys() - before.keys(), before.keys() - after.keys()
    changed: dict[str, Diff] = {}
    for key in before.keys() & after.keys():
        group = key.split("/", 1)[0]
        diff = _diff(before[key], after[key]) | _diff(
            previous.groups.get(group, {}), planned.groups.get(group, {})
        )
        if diff:
            changed[key] = diff
    counts_before, counts_after = _count_by_group(before), _count_by_group(after)
    for group in sorted(paired):
        old, new = previous.rotating[group], planned.rotating[group]
        counts_before[group] = counts_before.get(group, 0) + old.edge_count()
        counts_after[group] = counts_after.get(group, 0) + new.edge_count()
        _block_changes(group, old, new, added, removed, changed)
    hosts_before = previous.hosts or {uid: "" for uid in _ends(before)}  # a lock that predates `hosts`
    changes = Changes(
        locked=True,
        locked_edges=sum(counts_before.values()),
        edges_added=sorted(added),
        edges_removed=sorted(removed),
        edges_changed=dict(sorted(changed.items())),
        hosts_added=sorted(planned.hosts.keys() - hosts_before.keys()),
        hosts_removed=sorted(hosts_before.keys() - planned.hosts.keys()),
    )
    for uid in sorted(hosts_before.keys() & planned.hosts.keys()):
        if hosts_before[uid] and hosts_before[uid] != planned.hosts[uid]:
            changes.hosts_changed[uid] = {"address": [hosts_before[uid], planned.hosts[uid]]}
    changes.destruction = _destruction(counts_before, counts_after, len(removed))
    return changes


def _block_changes(
    group: str,
    before: RotatingPorts,
    after: RotatingPorts,
    added: set[str],
    removed: set[str],
    changed: dict[str, Diff],
) -> None:
    """Add a rotating group's block edges that appear, disappear or move. A listener whose block and
    left-out members stayed changes only with the members whose slot moved, came or went."""
    moved = {
        uid
        for uid in before.slots.keys() | after.slots.keys()
        if before.slots.get(uid) != after.slots.get(uid)
    }
    everyone = before.slots.keys() | after.slots.keys()
    for listener in before.blocks.keys() | after.blocks.keys():
        stayed = before.blocks.get(listener) == after.blocks.get(listener) and before.left_out.get(
            listener
        ) == after.left_out.get(listener)
        initiators = moved if stayed else everyone
        old, new = before.ports_of(listener, initiators), after.ports_of(listener, initiators)
        added.update(f"{group}/{listener}/{uid}" for uid in new.keys() - old.keys())
        removed.update(f"{group}/{listener}/{uid}" for uid in old.keys() - new.keys())
        for uid in old.keys() & new.keys():
            if old[uid] != new[uid]:
                changed[f"{group}/{listener}/{uid}"] = {"port": [old[uid], new[uid]]}


def _edges(state: LockState, skipped: set[str]) -> dict[str, dict[str, Any]]:
    """lock key -> {listener, port} of every edge of `state` but the block edges of `skipped` groups."""
    edges = {
        key: {"listener": listener, "port": port}
        for listener, entries in state.ports.items()
        for key, port in entries.items()
    }
    for group, ports in state.rotating.items():
        if group not in skipped:
            for key, (listener, port) in ports.edge_ports().items():
                edges[f"{group}/{key}"] = {"listener": listener, "port": port}
    return edges


def _ends(edges: dict[str, Any]) -> set[str]:
    return {uid for key in edges for uid in key.split("/")[1:]}


def _diff(before: dict[str, Any], after: dict[str, Any]) -> Diff:
    """Settings whose value differs; a side that recorded nothing (an older lock file) is no change."""
    if not before or not after:
        return {}
    return {name: [before.get(name), after.get(name)] for name in after if before.get(name) != after[name]}


def _destruction(before: dict[str, int], after: dict[str, int], removed: int) -> list[str]:
    """Why the change needs --allow-destroy, from the locked and planned edges per group."""
    reasons = []
    for group, count in sorted(before.items()):
        if count and not after.get(group):
            reasons.append(f"removes every edge of mesh group {group} ({count} locked edges)")
    locked = sum(before.values())
    if removed * 2 > locked:
        reasons.append(f"removes {removed} of the {locked} locked edges (more than half)")
    return reasons


def _count_by_group(edges: dict[str, Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for key in edges:
        group = key.split("/", 1)[0]
        counts[group] = counts.get(group, 0) + 1
    return counts


def _described(changed: dict[str, Diff]) -> list[str]:
    """`voip/a/b (dscp 46 -> 0, port 15000 -> 15002)` for each changed item."""
    return [
        f"{name} ({', '.join(f'{what} {old} -> {new}' for what, (old, new) in diff.items())})"
        for name, diff in changed.items()
    ]
