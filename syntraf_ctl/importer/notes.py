"""The migration summary: what the importer changed, dropped, or left for the operator to do."""

from __future__ import annotations

from dataclasses import dataclass

# Kinds, in the order the summary prints them.
TODO = "action needed"
CHANGED = "changed from the original"
GONE = "gone"
IGNORED = "ignored"
KINDS = (TODO, CHANGED, GONE, IGNORED)


@dataclass(frozen=True)
class Note:
    kind: str
    where: str  # section and key in the SYNTRAF file, e.g. "[[MESH_GROUP]] VOIP: PACKET_SIZE"
    message: str


def summary(notes: list[Note]) -> str:
    """The notes grouped by kind, one line each, in the order they were made."""
    lines: list[str] = []
    for kind in KINDS:
        selected = [note for note in notes if note.kind == kind]
        if selected:
            lines.append(f"{kind.capitalize()} ({len(selected)}):")
            lines.extend(f"  - {note.where}: {note.message}" for note in selected)
    return "\n".join(lines)
