"""Validation problems: collected all at once, reported together, exit status 2."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

from syntraf_ctl.messages import name_list

EXIT_INVALID = 2


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with the inventory, with everything a user needs to find it."""

    source: str  # file[:line] where Ansible knows the value came from, or "" if unknown
    subject: str  # "host mtl-1", "mesh group voip", "profile g711", "inventory"
    key: str  # the variable (and sub-key) at fault, e.g. "syntraf_exclude.voip"
    message: str

    def __str__(self) -> str:
        where = f"{self.source}: " if self.source else ""
        key = f": {self.key}" if self.key else ""
        return f"{where}{self.subject}{key}: {self.message}"


class ValidationError(Exception):
    """The inventory cannot be compiled; `problems` lists every reason, `str()` shows them one per line."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = merge_repeats(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def merge_repeats(problems: list[Problem]) -> list[Problem]:
    """Each problem once: one value (same file:line, key and message) seen by many hosts, as a bad value in
    group_vars/all is, becomes one problem naming the inventory, or a few of the hosts and how many."""
    subjects: dict[tuple[str, str, str], set[str]] = {}
    for problem in problems:
        subjects.setdefault((problem.source, problem.key, problem.message), set()).add(problem.subject)
    merged = []
    for (source, key, message), names in subjects.items():
        if not source or len(names) == 1:
            merged.extend(Problem(source, subject, key, message) for subject in names)
        elif "inventory" in names:
            merged.append(Problem(source, "inventory", key, message))
        else:
            merged.append(Problem(source, name_list(sorted(names)), key, message))
    return sorted(merged)


def report(error: ValidationError, stream=None) -> int:
    """Print every problem to stderr (or `stream`); return the CLI exit status for invalid input."""
    stream = stream or sys.stderr
    count = len(error.problems)
    print(f"syntraf-ctl: the inventory is invalid ({count} problem{'s' if count != 1 else ''}):", file=stream)
    for problem in error.problems:
        print(f"  - {problem}", file=stream)
    return EXIT_INVALID


def display_path(path: str) -> str:
    """`path` relative to the working directory when it is inside it, else absolute."""
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative
