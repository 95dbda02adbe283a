"""Mounts and directory trees the lab owns: per-host overlays, and removal that never crosses into a mount."""

from __future__ import annotations

import subprocess
from pathlib import Path

from syntraf_ctl.lab.errors import LabError


def _unescape(field: str) -> str:
    # /proc/self/mounts escapes space, tab, newline and backslash as octal
    return field.encode().decode("unicode_escape")


def mounts_under(path: Path) -> list[Path]:
    """Mount points at or below `path`, deepest first (the order to unmount them in)."""
    root = str(path.resolve()) if path.exists() else str(path)
    found = []
    with open("/proc/self/mounts") as mounts:
        for line in mounts:
            target = _unescape(line.split(" ")[1])
            if target == root or target.startswith(root.rstrip("/") + "/"):
                found.append(Path(target))
    return sorted(set(found), key=lambda p: len(p.parts), reverse=True)


def unmount_under(path: Path) -> None:
    """Unmount everything at or below `path` (lazily when still busy, so teardown never hangs)."""
    for target in mounts_under(path):
        if subprocess.run(["umount", str(target)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "--lazy", str(target)], capture_output=True)


def mount_overlay(lower: Path, upper: Path, work: Path, target: Path) -> None:
    """Mount a writable overlay of the read-only `lower` tree on `target`; writes land in `upper`."""
    for directory in (upper, work, target):
        directory.mkdir(parents=True, exist_ok=True)
    options = f"lowerdir={lower},upperdir={upper},workdir={work}"
    result = subprocess.run(
        ["mount", "-t", "overlay", "overlay", "-o", options, str(target)], capture_output=True, text=True
    )
    if result.returncode != 0:
        raise LabError(f"cannot mount the overlay on {target}: {result.stderr.strip()}")


def remove_tree(path: Path) -> None:
    """Unmount what is mounted inside `path`, then delete it, never crossing into another file system."""
    if not path.exists() and not path.is_symlink():
        return
    unmount_under(path)
    result = subprocess.run(["rm", "-rf", "--one-file-system", str(path)], capture_output=True, text=True)
    if result.returncode != 0:
        raise LabError(f"cannot remove {path}: {result.stderr.strip()}")
