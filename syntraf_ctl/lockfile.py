"""The port lock file, `.syntraf.lock.json` in the inventory directory: read by plan, written by render/apply.

Like a package lock file, teams commit it so every run, from every machine, gives edges the same ports. The
name starts with a dot because Ansible skips dot files in an inventory directory (otherwise it would
try to read the lock as an inventory source). It is JSON with sorted keys, one edge per line, so diffs
stay readable.
"""

from __future__ import annotations

import json
import os
import tempfile

from syntraf_ctl.ports import Locked
from syntraf_ctl.problems import Problem, display_path

LOCK_NAME = ".syntraf.lock.json"
LOCK_SCHEMA = 1
_ABOUT = "syntraf-ctl listener ports, kept stable across inventory changes. Commit this file; do not edit it."


def lock_path(inventory_directory: str) -> str:
    return os.path.join(inventory_directory, LOCK_NAME)


def read_lock(path: str) -> tuple[Locked, list[Problem]]:
    """The recorded ports; a missing file is an empty lock (fresh assignment), a damaged one a problem."""
    try:
        with open(path, encoding="utf-8") as stream:
            content = json.load(stream)
    except FileNotFoundError:
        return {}, []
    except (OSError, ValueError) as error:
        return {}, [_damaged(path, f"cannot be read: {error}")]
    ports = content.get("ports") if isinstance(content, dict) else None
    if not isinstance(content, dict) or content.get("schema") != LOCK_SCHEMA or not isinstance(ports, dict):
        return {}, [_damaged(path, f"is not a schema {LOCK_SCHEMA} syntraf lock file")]
    for listener, entries in ports.items():
        if not isinstance(entries, dict) or not all(
            isinstance(port, int) and not isinstance(port, bool) for port in entries.values()
        ):
            return {}, [_damaged(path, f"has a malformed entry for listener {listener!r}")]
    return ports, []


def format_lock(ports: Locked) -> str:
    return (
        json.dumps({"about": _ABOUT, "ports": ports, "schema": LOCK_SCHEMA}, indent=1, sort_keys=True) + "\n"
    )


def write_lock(path: str, ports: Locked) -> None:
    """Replace the lock file atomically (a crash leaves the old one or the new one, never half a file)."""
    write_atomically(path, format_lock(ports))


def write_atomically(path: str, text: str) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def _damaged(path: str, what: str) -> Problem:
    return Problem(display_path(path), "lock file", "", f"{what}; fix it or delete it to assign ports afresh")
