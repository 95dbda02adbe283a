"""Readable, diff-friendly JSON for the files syntraf writes (probe configs, plans, host documents), fast for
large meshes: objects one key per line, list items one per line, each item written by the json module's C
encoder; text encoded once (a rotating group's tables, shared by all its members' configs) is pasted as is."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cached_property
from typing import Any


@dataclass(frozen=True)
class Encoded:
    """A value already encoded as JSON text, pasted as is by format_json; its digest stands for it in
    hashes of content (the revision), so the text is hashed once however often it is pasted."""

    text: str

    @cached_property
    def digest(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


def format_json(value: Any, level: int = 0) -> str:
    """Objects one key per line, list items (edges...) one per line, `Encoded` text as it is.

    Each item is written by the json module's C encoder, which keeps large meshes fast (an indented
    json.dumps falls back to the pure-Python encoder).
    """
    pad = "  " * (level + 1)
    if isinstance(value, Encoded):
        return value.text
    if isinstance(value, dict) and value:
        items = [f"{pad}{compact(key)}: {format_json(item, level + 1)}" for key, item in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + "  " * level + "}"
    if isinstance(value, list) and value:
        return "[\n" + ",\n".join(pad + compact(item) for item in value) + "\n" + "  " * level + "]"
    return compact(value)


# The json module's C encoder, made once: JSONEncoder.encode would build one per call (a third of the time
# of a small item such as an edge). Same output as json.dumps(value, ensure_ascii=False, separators=(", ",
# ": ")), without its circular-reference check (these documents are trees).
_ENCODE = json.encoder.c_make_encoder(
    None, json.JSONEncoder().default, json.encoder.encode_basestring, None, ": ", ", ", False, False, True
)


def compact(value: Any) -> str:
    """`value` on one line."""
    return "".join(_ENCODE(value, 0))
