"""An imported inventory checked with `plan`'s own rules before anything is written: an import that plan
would refuse (a 100-character UID, an address such as 10.0.0.999) is refused by the import."""

from __future__ import annotations

import dataclasses
import os
import tempfile
from pathlib import Path

from syntraf_ctl.compile import compile_inventory
from syntraf_ctl.importer.inventory_layout import Inventory
from syntraf_ctl.problems import Problem, ValidationError


def plan_problems(
    inventory: Inventory, files: dict[str, str], vault_password_file: Path | None, shown_as: Path
) -> list[Problem]:
    """What `plan` would say about `files` (the inventory's, maybe encrypted) once written to `shown_as`,
    except the addresses of dynamic hosts, left for the user to fill (an empty list: nothing)."""
    todo = {f"host {name}" for name in inventory.dynamic_hosts}
    with tempfile.TemporaryDirectory(prefix="syntraf-import-") as directory:
        for relative, text in files.items():
            path = Path(directory, relative)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        password = str(vault_password_file) if vault_password_file else None
        try:
            compile_inventory(directory, password, lock=False)
        except ValidationError as error:
            prefixes = (os.path.realpath(directory), directory)
            return [
                dataclasses.replace(p, source=_moved(p.source, prefixes, shown_as))
                for p in error.problems
                if not (p.subject in todo and p.key == "ansible_host")
            ]
    return []


def _moved(source: str, prefixes: tuple[str, ...], shown_as: Path) -> str:
    """`source` with the temporary directory replaced by where the files are meant to go."""
    for prefix in prefixes:
        if source.startswith(prefix + os.sep):
            return str(shown_as / source[len(prefix) + 1 :])
    return source
