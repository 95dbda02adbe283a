"""render owns only what it wrote (docs/refused.md): the review's R3-R11, R9b, C8, C9 and RO3 cases.

Each case runs the real CLI on real files and asserts that a refused render exits 2 and leaves the whole
directory tree byte-identical: no output, no lock file, no key material.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from syntraf_ctl.cli import main
from syntraf_ctl.lockfile import LOCK_NAME
from syntraf_ctl.render import RenderedTree, exchange, write_tree
from syntraf_ctl.render_target import MARKER

from .conftest import REVIEW_HOSTS, refused, review_inventory, snapshot

CLI = Path(sys.executable).parent / "syntraf-ctl"


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory holding the review's base inventory at inv/."""
    monkeypatch.chdir(tmp_path)
    review_inventory(tmp_path / "inv")
    return tmp_path


def test_r6_a_directory_holding_a_plan_json_is_not_taken_for_a_render(world, capsys):
    (world / "tf").mkdir()
    (world / "tf/plan.json").write_text("{}\n")
    (world / "tf/main.tf").write_text("x\n")
    error = refused(["render", "-i", "inv", "-o", "tf"], world, capsys)
    assert f"tf is not empty and is not an earlier syntraf-ctl render (it has no {MARKER} file)" in error
    assert "new iperf3 authentication material" not in error


def test_r7_r8_the_repository_holding_the_inventory_is_never_replaced(tmp_path, monkeypatch, capsys):
    repo = tmp_path / "repo"
    review_inventory(repo / "inventories/prod")
    monkeypatch.chdir(repo)
    subprocess.run(["git", "init", "-q"], check=True)
    assert main(["plan", "-i", "inventories/prod", "--format", "json"]) == 0
    (repo / "plan.json").write_text(capsys.readouterr().out)
    error = refused(["render", "-i", "inventories/prod", "-o", "."], repo, capsys)
    assert "holds the inventory inventories/prod" in error


def test_r7_an_empty_ancestor_of_the_inventory_is_refused_too(tmp_path, monkeypatch, capsys):
    """Refused for being an ancestor, not only for holding other files: here it holds nothing else."""
    review_inventory(tmp_path / "only/inv")
    monkeypatch.chdir(tmp_path)
    error = refused(["render", "-i", "only/inv", "-o", "only"], tmp_path, capsys)
    assert "holds the inventory" in error


def test_r3_the_root_directory_is_refused_before_any_key_material(world, capsys):
    before = snapshot(world)
    assert main(["render", "-i", "inv", "-o", "/"]) == 2
    assert snapshot(world) == before
    assert "/ holds the inventory inv" in capsys.readouterr().err


def test_r4_r5_a_file_or_a_non_empty_directory_is_refused_before_any_key_material(world, capsys):
    (world / "afile").write_text("keep\n")
    (world / "full").mkdir()
    (world / "full/notes.txt").write_text("keep\n")
    assert "afile exists and is not a directory" in refused(
        ["render", "-i", "inv", "-o", "afile"], world, capsys
    )
    assert "full is not empty" in refused(["render", "-i", "inv", "-o", "full"], world, capsys)


@pytest.mark.parametrize("output", ["inv", "inv/out", "inv/group_vars"])
def test_r10_r11_with_an_inventory_file_its_directory_is_protected_too(world, capsys, output):
    error = refused(["render", "-i", "inv/hosts.yml", "-o", output], world, capsys)
    assert "holds the inventory" in error or "inside the inventory directory" in error


def test_r9b_a_symlink_to_an_earlier_render_stays_a_symlink(world, capsys):
    assert main(["render", "-i", "inv", "-o", "renders/current"]) == 0
    os.symlink("renders/current", world / "out")
    (world / "inv/hosts.yml").write_text(REVIEW_HOSTS.replace("a3: {ansible_host: 127.0.0.3}", "a3: {}"))
    assert main(["render", "-i", "inv", "-o", "out"]) == 0
    assert (world / "out").is_symlink() and os.readlink(world / "out") == "renders/current"
    plan = json.loads((world / "renders/current/plan.json").read_text())
    assert plan["hosts"]["a3"]["address"] == "a3"  # the new render is in the link's target
    assert sorted(p.name for p in (world / "renders").iterdir()) == ["current"]  # nothing left beside it


def test_an_earlier_render_is_replaced_and_a_forged_marker_is_not_enough(world, capsys):
    assert main(["render", "-i", "inv", "-o", "out"]) == 0
    assert (world / "out" / MARKER).is_file()
    (world / "out/a1/stale.txt").write_text("from an older render\n")
    assert main(["render", "-i", "inv", "-o", "out"]) == 0
    assert not (world / "out/a1/stale.txt").exists()
    assert sorted(p.name for p in world.iterdir()) == ["inv", "out"]  # no staging or old tree left behind
    (world / "forged").mkdir()
    (world / "forged" / MARKER).write_text("not ours\n")
    (world / "forged/data").write_text("keep\n")
    capsys.readouterr()
    refused(["render", "-i", "inv", "-o", "forged"], world, capsys)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("h" * 300, "is longer than a file name can be (255 bytes)"),
        ("plan.json", "cannot be a directory name"),
    ],
)
def test_c8_c9_host_names_that_cannot_be_file_names_are_invalid(world, capsys, name, message):
    """Even in no mesh group: render writes an empty DIR/<host>/etc/syntraf for such a host."""
    idle = f"all: {{hosts: {{{json.dumps(name)}: {{}}}}, children:"
    (world / "inv/hosts.yml").write_text(REVIEW_HOSTS.replace("all: {children:", idle))
    assert main(["plan", "-i", "inv"]) == 2
    assert f"host {name}: the inventory hostname {message}" in capsys.readouterr().err
    assert message in refused(["render", "-i", "inv", "-o", "out"], world, capsys)


def _read_only(path: Path, *argv: str) -> subprocess.CompletedProcess:
    """Run syntraf-ctl with `path` mounted read-only (a private mount namespace: a real EROFS, which root
    gets too, unlike a chmod)."""
    script = 'mount --bind -o ro "$0" "$0" && exec "$@"'
    return subprocess.run(
        ["unshare", "-m", "sh", "-c", script, str(path), str(CLI), *argv], capture_output=True, text=True
    )


def test_ro3_a_read_only_inventory_leaves_the_render_and_the_lock_as_they_were(world, capsys):
    probe = subprocess.run(["unshare", "-m", "mount", "--bind", "-o", "ro", "/", "/"], capture_output=True)
    if probe.returncode != 0 or not shutil.which("unshare"):
        pytest.skip("cannot make a read-only mount here (needs root and mount namespaces)")
    assert main(["render", "-i", "inv", "-o", "out"]) == 0
    (world / "inv/hosts.yml").write_text(REVIEW_HOSTS.replace("127.0.0.3", "127.0.0.4"))
    before = snapshot(world)
    done = _read_only(world / "inv", "render", "-i", "inv", "-o", "out")
    assert done.returncode == 1, done.stderr
    assert "cannot write the rendered files or the lock file" in done.stderr and "Read-only" in done.stderr
    assert snapshot(world) == before  # the earlier render and its lock file, as they were
    assert (world / "inv" / LOCK_NAME).exists()


def test_the_swap_is_one_exchange_and_write_tree_guards_other_callers(world):
    (world / "a").mkdir()
    (world / "a/A").write_text("a\n")
    (world / "b").mkdir()
    (world / "b/B").write_text("b\n")
    if not exchange(str(world / "a"), str(world / "b")):
        pytest.skip("no renameat2(RENAME_EXCHANGE) here: render falls back to two renames")
    assert [p.name for p in (world / "a").iterdir()] == ["B"] and [
        p.name for p in (world / "b").iterdir()
    ] == ["A"]
    with pytest.raises(FileExistsError, match="is not an earlier syntraf-ctl render"):
        write_tree(RenderedTree({"x/file": "new\n"}), str(world / "a"))
    assert (world / "a/B").read_text() == "b\n" and sorted(p.name for p in world.iterdir()) == [
        "a",
        "b",
        "inv",
    ]
