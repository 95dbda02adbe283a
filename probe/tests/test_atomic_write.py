"""The one atomic-write helper: a file is replaced whole, with its mode from the start, or left as it was."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from syntraf_probe.atomic_write import stage_file, write_atomically


def mode_of(path: Path | str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_replaces_the_file_with_the_given_mode_and_leaves_nothing_else(tmp_path: Path) -> None:
    path = tmp_path / "secret.yml"
    path.write_text("old")
    write_atomically(path, b"new", mode=0o600)
    assert path.read_bytes() == b"new"
    assert mode_of(path) == 0o600
    assert os.listdir(tmp_path) == ["secret.yml"]


def test_a_staged_file_has_its_mode_before_it_is_committed(tmp_path: Path) -> None:
    """A token file must never be readable by others, not even while it is being written."""
    path = tmp_path / "token"
    staged = stage_file(path, b"s3cret", mode=0o600, durable=True)
    assert not path.exists()
    assert mode_of(staged) == 0o600
    os.replace(staged, path)
    assert path.read_bytes() == b"s3cret"


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "lock.json"
    path.write_text("old")
    with pytest.raises(TypeError):
        write_atomically(path, "not bytes")  # type: ignore[arg-type]  (the write itself fails)
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["lock.json"]


def test_a_missing_directory_is_an_error_that_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        write_atomically(tmp_path / "absent" / "file", b"x")
    assert os.listdir(tmp_path) == []
