"""A bounded on-disk queue of line-protocol batches for one database.

Segments are files `<sequence>.lp` in the spool directory; new lines are appended to the newest segment,
which is rolled over at `segment_bytes`. Replay reads the oldest segment first. When the total size passes
`max_bytes` the oldest segments are deleted (logged) and their points counted as dropped; the segment being
replayed is never evicted, so replay keeps its order. A crash can leave a segment with a torn last line:
lines without their newline are ignored when read. Appends are fsynced (a spool is written to only while a
database is unavailable, twice per interval at most). An unusable directory is refused when the spool is
opened (ConfigError: exit 2 at start, the old revision kept on reload); an error while appending (disk
full, permissions changed) is logged, counted, and the batch dropped: the probe goes on.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from pathlib import Path
from typing import Optional

from .atomic_write import write_atomically
from .config import ConfigError

SUFFIX = ".lp"
LOG_REPEAT_SECONDS = 60.0

log = logging.getLogger("syntraf_probe.spool")


def open_directory(directory: str) -> Path:
    """Create the spool directory and check that the probe can write there; ConfigError if not."""
    path = Path(directory)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".writable"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise ConfigError(f"spool.directory {directory}: unusable: {error.strerror or error}") from None
    return path


class Spool:
    def __init__(self, directory: str, max_bytes: int) -> None:
        self.directory = open_directory(directory)
        self.max_bytes = max_bytes
        self.segment_bytes = max(4096, min(1 << 20, max_bytes // 8))
        self.dropped_points = 0
        self.errors = 0  # appends that failed (disk full, permissions)
        self.error_logged = -LOG_REPEAT_SECONDS
        self.reading: Optional[int] = None  # the segment a replay holds
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
        """Never raises: a failed write is logged and counted, and its points are dropped."""
        if not lines:
            return
        data = ("\n".join(lines) + "\n").encode()
        sequence = self.open_sequence
        if sequence is None or self.segments[sequence][0] + len(data) > self.segment_bytes:
            sequence = self.open_sequence = self.next_sequence
            self.next_sequence += 1
            self.segments[sequence] = (0, 0)
        size, points = self.segments[sequence]
        try:
            with open(self._path(sequence), "ab") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as error:
            self._failed(len(lines), error)
            with contextlib.suppress(OSError):
                os.truncate(self._path(sequence), size)  # no torn half batch in the middle of a segment
            if not size:
                self._delete(sequence)
            return
        self.segments[sequence] = (size + len(data), points + len(lines))
        self._enforce_bound()

    def _failed(self, points: int, error: OSError) -> None:
        self.errors += 1
        self.dropped_points += points
        now = time.monotonic()
        if now - self.error_logged >= LOG_REPEAT_SECONDS:
            self.error_logged = now
            log.error("spool %s: cannot write, %d points dropped: %s", self.directory, points, error)

    def _enforce_bound(self) -> None:
        while self.bytes > self.max_bytes:
            evictable = [sequence for sequence in self.segments if sequence != self.reading]
            if len(evictable) <= 1:
                return  # the one being replayed and the one appended to stay
            oldest = evictable[0]
            points = self.segments[oldest][1]
            self.dropped_points += points
            log.warning(
                "spool %s: over %d bytes, %d oldest points dropped", self.directory, self.max_bytes, points
            )
            self._delete(oldest)

    def oldest(self) -> Optional[tuple[int, list[str]]]:
        """The oldest segment's sequence and lines; it is closed to appends from now on."""
        if not self.segments:
            return None
        sequence = self.reading = next(iter(self.segments))
        if sequence == self.open_sequence:
            self.open_sequence = None
        try:
            data = self._path(sequence).read_text(encoding="utf-8", errors="replace")
        except OSError:
            data = ""
        lines = data.split("\n")[:-1]  # the part after the last newline is torn or empty
        return sequence, [text for text in lines if text]

    def remove(self, sequence: int) -> None:
        if sequence == self.reading:
            self.reading = None
        if sequence in self.segments:
            self._delete(sequence)

    def replace(self, sequence: int, lines: list[str]) -> None:
        """Keep only `lines` of a segment (the part a replay did not deliver); it stays the oldest, and
        evictable again: the replay has stopped."""
        if sequence == self.reading:
            self.reading = None
        if sequence not in self.segments:
            return
        if not lines:
            self.remove(sequence)
            return
        data = ("\n".join(lines) + "\n").encode()
        try:
            write_atomically(self._path(sequence), data, durable=True)
        except OSError as error:  # the segment is replayed whole again: duplicates, never a loss
            log.warning("spool %s: cannot shorten a replayed segment: %s", self.directory, error)
            return
        self.segments[sequence] = (len(data), len(lines))

    def _delete(self, sequence: int) -> None:
        del self.segments[sequence]
        if sequence == self.open_sequence:
            self.open_sequence = None
        try:
            os.unlink(self._path(sequence))
        except FileNotFoundError:
            pass
        except OSError as error:
            log.warning("spool %s: cannot delete segment %d: %s", self.directory, sequence, error)
