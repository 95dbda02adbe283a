"""A bounded on-disk queue of line-protocol batches for one database.

Segments are files `<sequence>.lp` in the spool directory; new lines are appended to the newest segment,
which is rolled over at `segment_bytes`. Replay reads the oldest segment first. When the total size passes
`max_bytes` the oldest segments are deleted and their points counted as dropped. A crash can leave a
segment with a torn last line: lines without their newline are ignored when read.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Optional

SUFFIX = ".lp"


class Spool:
    def __init__(self, directory: str, max_bytes: int) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.segment_bytes = max(4096, min(1 << 20, max_bytes // 8))
        self.dropped_points = 0
        # sequence -> (bytes, points), oldest first
        self.segments: dict[int, tuple[int, int]] = {}
        for path in sorted(self.directory.glob("*" + SUFFIX)):
            try:
                data = path.read_bytes()
                self.segments[int(path.stem)] = (len(data), data.count(b"\n"))
            except (OSError, ValueError):
                continue
        self.segments = dict(sorted(self.segments.items()))
        self.next_sequence = max(self.segments, default=0) + 1
        self.open_sequence: Optional[int] = None  # the segment appends go to

    @property
    def points(self) -> int:
        return sum(points for _, points in self.segments.values())

    @property
    def bytes(self) -> int:
        return sum(size for size, _ in self.segments.values())

    def __bool__(self) -> bool:
        return bool(self.segments)

    def _path(self, sequence: int) -> Path:
        return self.directory / f"{sequence:016d}{SUFFIX}"

    def append(self, lines: list[str]) -> None:
        if not lines:
            return
        data = ("\n".join(lines) + "\n").encode()
        sequence = self.open_sequence
        if sequence is None or self.segments[sequence][0] + len(data) > self.segment_bytes:
            sequence = self.open_sequence = self.next_sequence
            self.next_sequence += 1
            self.segments[sequence] = (0, 0)
        with open(self._path(sequence), "ab") as handle:
            handle.write(data)
        size, points = self.segments[sequence]
        self.segments[sequence] = (size + len(data), points + len(lines))
        self._enforce_bound()

    def _enforce_bound(self) -> None:
        while self.segments and self.bytes > self.max_bytes:
            oldest = next(iter(self.segments))
            self.dropped_points += self.segments[oldest][1]
            self._delete(oldest)

    def oldest(self) -> Optional[tuple[int, list[str]]]:
        """The oldest segment's sequence and lines; it is closed to appends from now on."""
        if not self.segments:
            return None
        sequence = next(iter(self.segments))
        if sequence == self.open_sequence:
            self.open_sequence = None
        try:
            data = self._path(sequence).read_text(encoding="utf-8", errors="replace")
        except OSError:
            data = ""
        lines = data.split("\n")[:-1]  # the part after the last newline is torn or empty
        return sequence, [text for text in lines if text]

    def remove(self, sequence: int) -> None:
        if sequence in self.segments:
            self._delete(sequence)

    def replace(self, sequence: int, lines: list[str]) -> None:
        """Keep only `lines` of a segment (the part a replay did not deliver)."""
        data = ("\n".join(lines) + "\n").encode() if lines else b""
        temporary = self._path(sequence).with_suffix(".tmp")
        temporary.write_bytes(data)
        os.replace(temporary, self._path(sequence))
        self.segments[sequence] = (len(data), len(lines))

    def drop(self, sequence: int) -> int:
        """Remove a segment the database refused for good; return how many points that loses."""
        points = self.segments.get(sequence, (0, 0))[1]
        self.dropped_points += points
        self.remove(sequence)
        return points

    def _delete(self, sequence: int) -> None:
        del self.segments[sequence]
        if sequence == self.open_sequence:
            self.open_sequence = None
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._path(sequence))
