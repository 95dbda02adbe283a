"""A small YAML writer for inventory files a person will read and edit: keys in the order given, short
mappings and lists on one line, and comments after keys. Scalars are quoted by PyYAML so the output always
reads back to the same data.

Imported values are data: Ansible templates inventory strings, so a string holding Jinja delimiters is
written `!unsafe` (Ansible never templates it). Only `Template` values, written by the importer itself, are
left for Ansible to template."""

from __future__ import annotations

from dataclasses import dataclass

import yaml

_FLOW_WIDTH = 100
_INDENT = "  "
_JINJA = ("{{", "{%", "{#")


@dataclass(frozen=True)
class Commented:
    """A value with a comment written after its key."""

    value: object
    comment: str


@dataclass(frozen=True)
class Template:
    """A string Ansible must template (a reference to a vault variable); any other string is data."""

    text: str


def _unsafe(value: object) -> bool:
    """Whether Ansible would template `value`: a string with Jinja delimiters, anywhere inside it."""
    if isinstance(value, Commented):
        return _unsafe(value.value)
    if isinstance(value, dict):
        return any(_unsafe(k) or _unsafe(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_unsafe(v) for v in value)
    return isinstance(value, str) and any(marker in value for marker in _JINJA)


def scalar(value: object) -> str:
    if value is None:
        return ""
    tag = "!unsafe " if _unsafe(value) else ""
    if isinstance(value, Template):
        value = value.text
    text = yaml.safe_dump(value, default_flow_style=True, width=float("inf"), allow_unicode=True)
    return tag + text.removesuffix("\n...\n").removesuffix("\n")


def _is_flat(value: object) -> bool:
    if isinstance(value, dict):  # "{host: }" reads badly: keys without a value stay one per line
        return all(v is not None and not isinstance(v, (dict, list, Commented)) for v in value.values())
    if isinstance(value, list):
        return all(not isinstance(v, (dict, list, Commented)) for v in value)
    return False


def _flow(value: dict | list) -> str:
    """`value` on one line; PyYAML quotes what flow context needs (",", "[", "]"...)."""
    text = yaml.safe_dump(
        plain(value), default_flow_style=True, sort_keys=False, width=float("inf"), allow_unicode=True
    )
    return text.removesuffix("\n")


def _entry(prefix: str, value: object, depth: int) -> list[str]:
    """Lines for `prefix` ("key:" or "-") followed by `value`, at `depth` levels of indentation."""
    comment = ""
    if isinstance(value, Commented):
        value, comment = value.value, f"  # {value.comment}"
    pad = _INDENT * depth
    if (
        isinstance(value, (dict, list))
        and value
        and not (_is_flat(value) and not _unsafe(value) and len(_flow(value)) <= _FLOW_WIDTH)
    ):
        lines = _block(value, depth + 1)
        if prefix == "-" and isinstance(value, dict):  # "- key: value" with the next keys aligned under it
            return [f"{pad}- {lines[0].lstrip()}{comment}", *lines[1:]]
        return [f"{pad}{prefix}{comment}", *lines]
    rendered = _flow(value) if isinstance(value, (dict, list)) else scalar(value)
    return [f"{pad}{prefix} {rendered}".rstrip() + comment]


def _block(value: dict | list, depth: int) -> list[str]:
    if isinstance(value, dict):
        return [line for key, item in value.items() for line in _entry(f"{scalar(key)}:", item, depth)]
    return [line for item in value for line in _entry("-", item, depth)]


def dump(data: dict, header: str = "") -> str:
    """YAML text for `data`; `header` lines become comments at the top of the file."""
    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    return "\n".join([*lines, "---", *_block(data, 0)]) + "\n"


def plain(value: object) -> object:
    """`value` without its comments: what the YAML file reads back as."""
    if isinstance(value, Commented):
        return plain(value.value)
    if isinstance(value, Template):
        return value.text
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value
