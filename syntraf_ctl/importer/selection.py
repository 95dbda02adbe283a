"""INCLUDE_ONLY_CLIENT_UID and EXCLUDED_CLIENT_UID, rewritten so syntraf's per-group rule keeps the pairs the
original kept (reference §5.2).

The original: if either host of a pair has an INCLUDE_ONLY table for *any* group, the pair's EXCLUDED lists
are ignored in *every* group. syntraf applies include-only per group, so an exclusion the original ignored
would start to count: the import leaves those out. Entries naming hosts outside the group never had an
effect and are left out too, so the inventory validates."""

from __future__ import annotations

from syntraf_ctl.importer.config import Node
from syntraf_ctl.importer.notes import CHANGED, IGNORED, Note


def _members(nodes: list[Node]) -> dict[str, set[str]]:
    members: dict[str, set[str]] = {}
    for node in nodes:
        for group in node.groups:
            members.setdefault(group, set()).add(node.uid)
    return members


def _in_group(
    node: Node, key: str, table: dict[str, list[str]], members: dict[str, set[str]], notes: list[Note]
) -> dict[str, list[str]]:
    """`table` restricted to the groups `node` is in and to their other members, noting what is dropped."""
    where = f"[[SERVER_CLIENT]] {node.uid}: {key}"
    kept: dict[str, list[str]] = {}
    for group, uids in table.items():
        if node.uid not in members.get(group, set()):
            notes.append(Note(IGNORED, f"{where}.{group}", f"{node.uid} is not in group {group}: no effect"))
            continue
        outside = [uid for uid in uids if uid not in members[group] or uid == node.uid]
        if outside:
            notes.append(
                Note(
                    IGNORED,
                    f"{where}.{group}",
                    f"{', '.join(outside)} not another member of {group}: no effect, left out",
                )
            )
        kept[group] = [uid for uid in uids if uid not in outside]
    return kept


def host_selection(nodes: list[Node], notes: list[Note]) -> dict[str, tuple[dict, dict]]:
    """For each host uid, its (syntraf_include_only, syntraf_exclude) giving the original's pairs."""
    members = _members(nodes)
    has_include_only = {node.uid for node in nodes if node.include_only}
    selection: dict[str, tuple[dict, dict]] = {}
    for node in nodes:
        include_only = _in_group(node, "INCLUDE_ONLY_CLIENT_UID", node.include_only, members, notes)
        exclude = _in_group(node, "EXCLUDED_CLIENT_UID", node.exclude, members, notes)
        for group, uids in list(exclude.items()):
            ignored = [uid for uid in uids if {node.uid, uid} & has_include_only]
            if ignored:
                notes.append(
                    Note(
                        CHANGED,
                        f"[[SERVER_CLIENT]] {node.uid}: EXCLUDED_CLIENT_UID.{group}",
                        f"{', '.join(ignored)} left out: the original ignored exclusions between hosts "
                        "where either has INCLUDE_ONLY_CLIENT_UID, so these pairs were measured",
                    )
                )
            exclude[group] = [uid for uid in uids if uid not in ignored]
        selection[node.uid] = (include_only, {group: uids for group, uids in exclude.items() if uids})
    return selection
