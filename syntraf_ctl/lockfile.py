"""The lock file, `.syntraf.lock.json` in the inventory directory: read by plan, written by render/apply.

Like a package lock file, teams commit it so every run, from every machine, gives edges the same ports. It
also records what the last render or apply deployed (each mesh group's traffic, each host's address), so
that `plan` and `apply` can show what a change does before doing it (syntraf_ctl.changes). The name starts
with a dot because Ansible skips dot files in an inventory directory (otherwise it would try to read the
lock as an inventory source). It is JSON with sorted keys, one edge per line, so diffs stay readable.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

from syntraf_probe.atomic_write import stage_file, write_atomically

from syntraf_ctl.ports import Locked, RotatingPorts
from syntraf_ctl.problems import Problem, display_path

LOCK_NAME = ".syntraf.lock.json"
LOCK_SCHEMA = 2  # written when a rotating group records its slots and blocks; 1 (the same without
READ_SCHEMAS = (1, 2)  # `rotating`) otherwise, so a lock without rotating groups reads in older syntraf-ctl
_ABOUT = "syntraf-ctl listener ports, kept stable across inventory changes. Commit this file; do not edit it."


@dataclass
class LockState:
    """What the last render or apply recorded. `groups` and `hosts` are empty in a lock file written before
    syntraf-ctl recorded them."""

    ports: Locked = field(default_factory=dict)  # listener uid -> edge lock key -> port
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)  # mesh group -> its traffic settings
    hosts: dict[str, str] = field(default_factory=dict)  # uid of each host in a mesh group -> address
    versions: dict[str, str] = field(default_factory=dict)  # inventory hostname -> iperf3 version seen
    rotating: dict[str, RotatingPorts] = field(default_factory=dict)  # rotating group -> slots and blocks


def lock_path(inventory_directory: str) -> str:
    return os.path.join(inventory_directory, LOCK_NAME)


def read_lock(path: str) -> tuple[LockState | None, list[Problem]]:
    """The recorded state; None for a missing file (fresh assignment), a problem for a damaged one."""
    try:
        with open(path, encoding="utf-8") as stream:
            content = json.load(stream)
    except FileNotFoundError:
        return None, []
    except (OSError, ValueError) as error:
        return None, [_damaged(path, f"cannot be read: {error}")]
    ports = content.get("ports") if isinstance(content, dict) else None
    if (
        not isinstance(content, dict)
        or content.get("schema") not in READ_SCHEMAS
        or not isinstance(ports, dict)
    ):
        return None, [
            _damaged(path, f"is not a schema {' or '.join(map(str, READ_SCHEMAS))} syntraf lock file")
        ]
    for listener, entries in ports.items():
        if not isinstance(entries, dict) or not all(_is_int(port) for port in entries.values()):
            return None, [_damaged(path, f"has a malformed entry for listener {listener!r}")]
    groups, hosts = content.get("groups", {}), content.get("hosts", {})
    if not isinstance(groups, dict) or not all(isinstance(traffic, dict) for traffic in groups.values()):
        return None, [_damaged(path, "has a malformed `groups` entry")]
    if not isinstance(hosts, dict) or not all(isinstance(address, str) for address in hosts.values()):
        return None, [_damaged(path, "has a malformed `hosts` entry")]
    versions = content.get("iperf3_versions", {})
    if not isinstance(versions, dict) or not all(isinstance(version, str) for version in versions.values()):
        return None, [_damaged(path, "has a malformed `iperf3_versions` entry")]
    rotating = _rotating(content.get("rotating", {}))
    if rotating is None:
        return None, [_damaged(path, "has a malformed `rotating` entry")]
    return LockState(ports, groups, hosts, versions, rotating), []


def _rotating(content: Any) -> dict[str, RotatingPorts] | None:
    """The `rotating` entry: group -> {slots: {uid: n}, blocks: {uid: port}, left_out: {uid: [uid]}}; None
    when malformed."""
    if not isinstance(content, dict):
        return None
    result = {}
    for group, entry in content.items():
        if not isinstance(entry, dict):
            return None
        slots, blocks, left_out = entry.get("slots", {}), entry.get("blocks", {}), entry.get("left_out", {})
        numbers = (slots, blocks)
        if not all(isinstance(table, dict) and all(_is_int(n) for n in table.values()) for table in numbers):
            return None
        if not isinstance(left_out, dict) or not all(
            isinstance(uids, list) and all(isinstance(uid, str) for uid in uids) for uids in left_out.values()
        ):
            return None
        result[group] = RotatingPorts(slots, blocks, left_out)
    return result


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def format_lock(state: LockState) -> str:
    content = {
        "about": _ABOUT,
        "groups": state.groups,
        "hosts": state.hosts,
        "ports": state.ports,
        "schema": 1,
    }
    if state.rotating:
        content["schema"] = LOCK_SCHEMA
        content["rotating"] = {
            group: {"blocks": ports.blocks, "left_out": ports.left_out, "slots": ports.slots}
            for group, ports in state.rotating.items()
        }
    if state.versions:  # older locks (and meshes never deployed) stay byte for byte as they were
        content["iperf3_versions"] = state.versions
    return json.dumps(content, indent=1, sort_keys=True) + "\n"


def stage_lock(path: str, state: LockState) -> str:
    """Write the next lock file beside `path` and return the temporary file's path: `os.replace` of it onto
    `path` commits it atomically (a crash leaves the old lock or the new one, never half a file), deleting it
    abandons it. Raises OSError (the inventory directory is read-only...) before anything is committed."""
    return stage_file(path, format_lock(state).encode("utf-8"))


def write_lock(path: str, state: LockState) -> None:
    """Replace the lock file atomically."""
    write_atomically(path, format_lock(state).encode("utf-8"))


def _damaged(path: str, what: str) -> Problem:
    return Problem(display_path(path), "lock file", "", f"{what}; fix it or delete it to assign ports afresh")
