"""Render a plan into per-host files, laid out as they will be on each host (DIR/<host>/etc/...).

Templates are shipped in syntraf_ctl/templates/ and rendered with StrictUndefined; the same plan always gives
byte-identical files. No secret is ever rendered: configs name the paths where the role puts secrets.
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jinja2
from syntraf_probe.config_json import config_text
from syntraf_probe.json_text import format_json

from syntraf_ctl.assets import host_layout
from syntraf_ctl.auth.store import host_files_path
from syntraf_ctl.gc_pause import gc_paused
from syntraf_ctl.lockfile import stage_lock
from syntraf_ctl.model import Host
from syntraf_ctl.plan import Plan
from syntraf_ctl.probe_configs import probe_configs, token_path
from syntraf_ctl.render_target import MARKER, MARKER_TEXT, PLAN_FILE, why_not_replaceable

HOST_DOCUMENT = "host.json"  # DIR/<host>/host.json: what the role deploys on the host
HOST_DOCUMENT_SCHEMA = 2  # 2: the account (sysusers.d) and the probe with its target
PROBE_FILE = "syntraf-probe.pyz"  # DIR/syntraf-probe.pyz: the probe artifact the role copies
UNITS = ("syntraf-probe@.service", "syntraf.target")
SYSUSERS_TEMPLATE = "syntraf.sysusers.conf.j2"
RESTART_SEC = 5
_AT_FDCWD = -100  # Linux <fcntl.h>: paths relative to the working directory
_RENAME_EXCHANGE = 2  # Linux <linux/fs.h>: renameat2() swaps the two paths


@dataclass
class RenderedTree:
    """Relative paths -> file contents, plus directories that must exist even when empty."""

    files: dict[str, str] = field(default_factory=dict)
    directories: list[str] = field(default_factory=list)
    copies: dict[str, str] = field(default_factory=dict)  # relative path -> file to copy (the probe)


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("syntraf_ctl", "templates"),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )


def render_plan(plan: Plan, probe: str | None = None) -> RenderedTree:
    """Every file of every host, each host's document, DIR/plan.json, the marker that says DIR is a render,
    and the probe zipapp `probe` (a path) when given."""
    with gc_paused():
        return _render_plan(plan, probe)


def _render_plan(plan: Plan, probe: str | None) -> RenderedTree:
    layout = host_layout()
    environment = _environment()
    settings = {**vars(layout), "restart_sec": RESTART_SEC}
    units = {name: environment.get_template(f"{name}.j2").render(**settings) for name in UNITS}
    sysusers = environment.get_template(SYSUSERS_TEMPLATE).render(**settings)
    unit_dir = layout.unit_dir.lstrip("/")
    config_dir = layout.config_dir.lstrip("/")
    tree = RenderedTree()
    configs = probe_configs(plan)
    for uid, groups in sorted(plan.host_groups().items()):
        host = plan.model.hosts[uid]
        files = [(f"{unit_dir}/{name}", "unit", "root", "0644") for name in UNITS]
        for name, text in units.items():
            tree.files[f"{host.name}/{unit_dir}/{name}"] = text
        tree.files[f"{host.name}/{layout.sysusers_file.lstrip('/')}"] = sysusers
        for group in groups:
            config = configs[(uid, group)]
            relative = config.path.lstrip("/")  # where the probe reads it on the host
            tree.files[f"{host.name}/{relative}"] = config_text(config)
            files.append((relative, f"config:{group}", layout.user, "0640"))
        document = host_document(host, groups, files)
        tree.files[f"{host.name}/{HOST_DOCUMENT}"] = format_json(document) + "\n"
    for name in plan.model.idle_hosts:  # the role removes what syntraf installed there
        tree.directories.append(f"{name}/{config_dir}")
        idle = {"schema": HOST_DOCUMENT_SCHEMA, "host": name, "groups": []}
        tree.files[f"{name}/{HOST_DOCUMENT}"] = format_json(idle) + "\n"
    tree.files[PLAN_FILE] = format_json(plan.to_json()) + "\n"
    tree.files[MARKER] = MARKER_TEXT
    if probe:
        tree.copies[PROBE_FILE] = probe
    return tree


def host_document(host: Host, groups: list[str], files: list[tuple[str, str, str, str]]) -> dict[str, Any]:
    """What the role deploys on `host` (its syntraf_files action reads it): the groups to run, the account
    the probe runs as (its sysusers.d file), the rendered files (relative path, tag, group, mode) with where
    they go, the directories they need, the token files with the index of their database in the inventory's
    syntraf_influxdb, whether the host gets iperf3 key files, what to prune, and the probe zipapp (copied by
    the role only when the module finds the host's copy different). Everything the role needs is here or in
    its vars/main.yml, never in both."""
    layout = host_layout()
    secret = {"group": layout.user, "mode": "0640"}
    private = {"group": layout.user, "mode": "0750"}
    auth_dir = layout.auth_dir
    return {
        "schema": HOST_DOCUMENT_SCHEMA,
        "host": host.uid,
        "groups": groups,
        "iperf3_binary": host.iperf3_binary,
        "time_skew_threshold": host.time_skew_threshold,
        "account": {
            "name": layout.user,
            "source": layout.sysusers_file.lstrip("/"),
            "target": {"path": layout.sysusers_file, "tag": "account", "group": "root", "mode": "0644"},
        },
        "probe": {
            "source": f"../{PROBE_FILE}",
            "target": {"path": layout.pyz_path, "tag": "probe", "group": "root", "mode": "0644"},
        },
        "directories": [
            {"path": layout.config_dir, **private},
            {"path": layout.secrets_dir, **private},
            {"path": auth_dir, **private},
            {"path": f"{auth_dir}/peers", **private},
            {"path": layout.install_dir, "group": "root", "mode": "0755"},
        ],
        "files": [
            {"source": relative, "target": {"path": f"/{relative}", "tag": tag, "group": group, "mode": mode}}
            for relative, tag, group, mode in files
        ],
        "tokens": [
            {"index": index, "target": {"path": token_path(database.name), "tag": "token", **secret}}
            for index, database in enumerate(host.databases)
        ],
        "auth": {"path": auth_dir, "files": host_files_path(host.name), "tag": "auth", **secret}
        if host.auth
        else None,
        "prune": [
            {"directory": layout.config_dir, "pattern": "*.json"},
            {"directory": layout.secrets_dir, "pattern": "*.token"},
            {"directory": auth_dir, "pattern": "*"},
            {"directory": f"{auth_dir}/peers", "pattern": "*"},
        ],
    }


def render_to(
    plan: Plan, out_dir: str, tree: RenderedTree, before_commit: Callable[[], None] | None = None
) -> None:
    """What `render` and `apply` do: write `tree` (the render of `plan`: every host's files, the probe
    zipapp) to `out_dir`, and record the plan in the lock.

    `out_dir` is a directory render_target accepted. The lock file and the tree are both staged beside their
    targets first, so a failure there (a read-only inventory directory, a full disk) writes nothing; then
    `before_commit` runs (it prepares the key material); then the lock is committed before the tree: a lock
    ahead of its tree is harmless (the next render computes the same ports from it), a tree ahead of its lock
    would deploy ports that nothing records. Raises OSError.
    """
    staged_lock = stage_lock(plan.lock_path, plan.lock_state())
    try:
        staging = stage_tree(tree, out_dir)
        try:
            if before_commit:
                before_commit()
            check_replaceable(out_dir)  # before the lock, which must never get ahead of a tree that fails
            os.replace(staged_lock, plan.lock_path)
            swap_into_place(staging, out_dir)
        finally:
            if os.path.exists(staging):
                shutil.rmtree(staging)
    finally:
        if os.path.exists(staged_lock):
            os.unlink(staged_lock)


def write_tree(tree: RenderedTree, out_dir: str) -> None:
    """Replace `out_dir` with exactly `tree`, so files of removed hosts and groups do not linger."""
    staging = stage_tree(tree, out_dir)
    try:
        swap_into_place(staging, out_dir)
    finally:
        if os.path.exists(staging):
            shutil.rmtree(staging)


def stage_tree(tree: RenderedTree, out_dir: str) -> str:
    """Write `tree` into a new directory beside `out_dir` (same file system, so it can be renamed into
    place) and return its path.

    Creating a file or directory is what costs here (on an ext4 disk about a millisecond each, 1,000 hosts
    have 11,000 of them); so each directory is made once, and a file whose content was already written
    (every host's units and sysusers file) is a hard link to that first copy, which costs a hundredth.
    Nothing writes into a rendered tree: a new render replaces it whole.
    """
    out_dir = os.path.abspath(out_dir)
    parent = os.path.dirname(out_dir)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".{os.path.basename(out_dir)}.new-", dir=parent)
    try:
        os.chmod(staging, 0o755)
        for directory in _directories(tree):  # parents first; all new, in a new directory
            os.mkdir(os.path.join(staging, directory))
        first_copy: dict[str, str] = {}
        for relative, content in tree.files.items():
            path = os.path.join(staging, relative)
            if content in first_copy:
                os.link(first_copy[content], path)
            else:
                _write_new_file(path, content.encode("utf-8"))
                first_copy[content] = path
        for relative, source in tree.copies.items():
            shutil.copyfile(source, os.path.join(staging, relative))
    except BaseException:
        shutil.rmtree(staging)
        raise
    return staging


def _directories(tree: RenderedTree) -> list[str]:
    """Every directory `tree` needs, each listed once, parents before their children."""
    needed: set[str] = set()
    for directory in (*tree.directories, *(os.path.dirname(relative) for relative in tree.files)):
        while directory and directory not in needed:
            needed.add(directory)
            directory = os.path.dirname(directory)
    return sorted(needed)  # a parent is a prefix of its children's paths, so it sorts before them


def _write_new_file(path: str, data: bytes) -> None:
    with open(path, "xb") as stream:  # x: the staging directory is new, nothing may be there
        stream.write(data)


def swap_into_place(staging: str, out_dir: str) -> None:
    """Put the staged tree at `out_dir` and delete what was there: one atomic exchange where the system
    has one (Linux), else two renames. Only an empty directory or an earlier render is ever replaced."""
    out_dir = os.path.abspath(out_dir)
    if not os.path.lexists(out_dir):
        os.replace(staging, out_dir)
        return
    check_replaceable(out_dir)
    if exchange(staging, out_dir):
        shutil.rmtree(staging)  # it now holds the old tree
        return
    old = tempfile.mkdtemp(prefix=f".{os.path.basename(out_dir)}.old-", dir=os.path.dirname(out_dir))
    os.replace(out_dir, os.path.join(old, "tree"))
    os.replace(staging, out_dir)
    shutil.rmtree(old)


def check_replaceable(out_dir: str) -> None:
    """Raise FileExistsError unless render may replace `out_dir` (the commands checked it before writing
    anything; this guards against what changed since, and protects other callers)."""
    reason = why_not_replaceable(out_dir)
    if reason:
        raise FileExistsError(f"{out_dir} {reason}")


def exchange(first: str, second: str) -> bool:
    """Swap two paths atomically with renameat2(RENAME_EXCHANGE); False where the system has no such call."""
    function = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if function is None:
        return False
    if function(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE) == 0:
        return True
    error = ctypes.get_errno()
    if error in (errno.ENOSYS, errno.EINVAL):  # an old kernel, or a file system without it
        return False
    raise OSError(error, os.strerror(error), second)
