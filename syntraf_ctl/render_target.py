"""Where `render` may write (docs/refused.md): it owns only what it wrote.

The output is a new or empty directory, or an earlier render, which carries MARKER at its top. It is never
the inventory directory, inside it (Ansible would read the files as inventory sources) or an ancestor of it
(replacing it would delete the inventory, its lock file and its private keys). A symlink given as `-o` is
followed: the render replaces the link's target and the link stays as it is.
"""

from __future__ import annotations

import os

PLAN_FILE = "plan.json"  # beside the hosts' directories, so no host may be named so
MARKER = ".syntraf-render"
MARKER_TEXT = (
    "This directory was written by `syntraf-ctl render`: every render replaces it whole.\n"
    "Keep nothing else here.\n"
)


class OutputRefused(Exception):
    """Render must not write there; the message says which directory and why."""


def render_target(output: str, inventory: str) -> str:
    """The real directory that `render -o output` replaces (symlinks resolved). Raises OutputRefused."""
    target = os.path.realpath(output)
    inventory_dir = os.path.realpath(inventory if os.path.isdir(inventory) else os.path.dirname(inventory))
    shown = output if target == os.path.abspath(output) else f"{output} (-> {target})"
    if contains(target, inventory_dir):
        raise OutputRefused(
            f"{shown} holds the inventory {inventory}: a render replaces its output directory whole, "
            "which would delete the inventory, its lock file and its keys; render somewhere else"
        )
    if contains(inventory_dir, target):
        raise OutputRefused(
            f"{shown} is inside the inventory directory {inventory_dir}: Ansible would read the rendered "
            "files as inventory sources; render somewhere else"
        )
    reason = why_not_replaceable(target)
    if reason:
        raise OutputRefused(f"{shown} {reason}")
    return target


def why_not_replaceable(path: str) -> str | None:
    """Why a render must not replace `path`; None when it is absent, empty or an earlier render."""
    if not os.path.lexists(path):
        return None
    if os.path.islink(path) or not os.path.isdir(path):
        return "exists and is not a directory: refusing to replace it"
    if os.listdir(path) and not is_earlier_render(path):
        return (
            f"is not empty and is not an earlier syntraf-ctl render (it has no {MARKER} file): refusing "
            "to replace it; render into a new or empty directory"
        )
    return None


def is_earlier_render(directory: str) -> bool:
    """Whether `directory` carries the marker a render writes (a regular file with the marker text)."""
    path = os.path.join(directory, MARKER)
    if os.path.islink(path) or not os.path.isfile(path):
        return False
    with open(path, encoding="utf-8", errors="replace") as stream:
        return stream.read() == MARKER_TEXT


def contains(outer: str, inner: str) -> bool:
    """Whether real path `inner` is `outer` or below it (both already resolved)."""
    return os.path.commonpath([outer, inner]) == outer
