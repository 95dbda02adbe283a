"""Wording shared by every message: long lists of names are summarised, so a 2,000-host run stays readable."""

from __future__ import annotations

from collections.abc import Iterable

LONG_LIST = 10  # names beyond which a list is summarised
SHOWN_NAMES = 5  # names a summary shows


def name_list(names: Iterable[str]) -> str:
    """`a, b, c`; a list longer than LONG_LIST, its first names and a count: `h000, h001, h002, h003, h004
    and 251 more (256 in all)`."""
    names = list(names)
    if len(names) <= LONG_LIST:
        return ", ".join(names)
    return f"{', '.join(names[:SHOWN_NAMES])} and {len(names) - SHOWN_NAMES} more ({len(names)} in all)"
