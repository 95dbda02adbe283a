"""Replace a file atomically: readers see the old content or the new, never half a file, and a crash leaves
no torn file behind. The one helper for the probe (state file, spool) and the controller (lock file, key
store, probe zipapp), which depends on this package."""

from __future__ import annotations

import os
import tempfile
from typing import Union

PathLike = Union[str, "os.PathLike[str]"]


def stage_file(path: PathLike, data: bytes, mode: int = 0o644, durable: bool = False) -> str:
    """Write `data` to a new file beside `path` (same file system, so a rename commits it) with `mode`, and
    return its path: `os.replace(staged, path)` commits it, deleting it abandons it. `durable` syncs the data
    to disk first (a rename after a crash must not point at an empty file). Raises OSError, leaving nothing.
    """
    directory = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    try:
        os.fchmod(handle, mode)  # before any byte is written: a 0600 file never passes through 0644
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            if durable:
                stream.flush()
                os.fsync(stream.fileno())
    except BaseException:
        os.unlink(temporary)
        raise
    return temporary


def write_atomically(path: PathLike, data: bytes, mode: int = 0o644, durable: bool = False) -> None:
    """Replace `path` with `data` (mode `mode`) in one rename. Raises OSError, leaving `path` as it was."""
    temporary = stage_file(path, data, mode, durable)
    try:
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
