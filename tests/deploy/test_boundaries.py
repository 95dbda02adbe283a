"""Grep-level checks of who owns what across the SSH boundary (docs/deploy.md): they must stay true."""

from __future__ import annotations

import re
from pathlib import Path

from syntraf_ctl.assets import COLLECTION_DIR, LAYOUT_FILE, host_layout

REPO = Path(__file__).resolve().parents[2]
ANSIBLE_FILES = sorted(path for path in COLLECTION_DIR.rglob("*") if path.suffix in (".py", ".yml", ".j2"))


def test_nothing_in_the_collection_imports_the_controller() -> None:
    assert ANSIBLE_FILES
    imports = re.compile(r"^\s*(from|import)\s+syntraf_ctl\b|import_module\(.syntraf_ctl", re.M)
    importing = [str(p) for p in ANSIBLE_FILES if imports.search(p.read_text())]
    assert importing == []


def test_no_playbook_or_task_runs_the_cli_or_python_on_the_controller() -> None:
    calls = re.compile(
        r"ansible_playbook_python|delegate_to:\s*localhost|connection:\s*local|hosts:\s*localhost|local_action"
        r"|-m,?\s*syntraf_ctl|(argv|cmd|command|shell):.*syntraf[-_]ctl"
    )
    yaml_files = [p for p in ANSIBLE_FILES if p.suffix == ".yml"]
    # Comments may tell users what to run; no task may run it.
    offending = [
        f"{path}: {line.strip()}"
        for path in yaml_files
        for line in path.read_text().splitlines()
        if calls.search(line) and not line.lstrip().startswith("#")
    ]
    assert offending == []


def test_each_host_path_is_stated_in_one_place() -> None:
    """Paths on the hosts appear, as literals, in the role's vars/main.yml only: the controller reads them
    from there, the role's tasks and the templates use the variables."""
    layout = host_layout()
    paths = {value for value in vars(layout).values() if value.startswith("/")}
    sources = [
        path
        for path in sorted((REPO / "syntraf_ctl").rglob("*"))
        if path.suffix in (".py", ".yml", ".j2", ".cfg")
        and path != LAYOUT_FILE
        and "lab" not in path.relative_to(REPO).parts  # the lab's own hosts are a test harness
    ]
    found = {
        f"{source.relative_to(REPO)}: {literal}"
        for source in sources
        for literal in paths
        if re.search(rf"(?<![\w/.]){re.escape(literal)}(?![\w.-])", source.read_text())
    }
    assert found == set()
