"""Render a plan into per-host files, laid out as they will be on each host (DIR/<host>/etc/...).

Templates are shipped in syntraf_ctl/templates/ and rendered with StrictUndefined; the same plan always gives
byte-identical files. No secret is ever rendered: configs name the paths where the role puts secrets.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import json
import os
import shutil
import tempfile
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jinja2
from syntraf_probe.schedule import Schedule

from syntraf_ctl.auth.scope import probe_auth_config
from syntraf_ctl.lockfile import stage_lock
from syntraf_ctl.mesh import Edge
from syntraf_ctl.model import Host
from syntraf_ctl.plan import Plan, edge_json, format_json
from syntraf_ctl.render_target import MARKER, MARKER_TEXT, PLAN_FILE, why_not_replaceable
from syntraf_ctl.topology import schedule, schedule_json

CONFIG_SCHEMA = 1
CONFIG_DIR = "/etc/syntraf"
UNIT_DIR = "etc/systemd/system"
UNIT_SETTINGS = {
    "user": "syntraf",
    "python": "/usr/bin/python3",
    "probe_path": "/opt/syntraf/syntraf-probe.pyz",
    "config_dir": CONFIG_DIR,
    "restart_sec": 5,
}
CONNECT_TIMEOUT_MS = 3000
_AT_FDCWD = -100  # Linux <fcntl.h>: paths relative to the working directory
_RENAME_EXCHANGE = 2  # Linux <linux/fs.h>: renameat2() swaps the two paths


@dataclass
class RenderedTree:
    """Relative paths -> file contents, plus directories that must exist even when empty."""

    files: dict[str, str] = field(default_factory=dict)
    directories: list[str] = field(default_factory=list)


def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("syntraf_ctl", "templates"),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    environment.filters["to_json"] = format_json
    return environment


def render_plan(plan: Plan) -> RenderedTree:
    """Every file of every host, DIR/plan.json, and the marker that says DIR is a render."""
    environment = _environment()
    target = environment.get_template("syntraf.target.j2").render(**UNIT_SETTINGS)
    unit = environment.get_template("syntraf-probe@.service.j2").render(**UNIT_SETTINGS)
    config_template = environment.get_template("probe-config.json.j2")
    tree = RenderedTree()
    edges_of: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for edge in plan.edges:
        entry = probe_edge_json(edge, plan.model.hosts)
        edges_of[(edge.src, edge.group)].append(entry)
        edges_of[(edge.dst, edge.group)].append(entry)
    for uid, groups in sorted(plan.host_groups().items()):
        host = plan.model.hosts[uid]
        tree.files[f"{host.name}/{UNIT_DIR}/syntraf.target"] = target
        tree.files[f"{host.name}/{UNIT_DIR}/syntraf-probe@.service"] = unit
        for group in groups:
            mesh_group = plan.model.groups[group]
            rotation = schedule(mesh_group.members, mesh_group.topology)
            config = probe_config(host, group, edges_of.get((uid, group), []), mesh_group.echo, rotation)
            tree.files[f"{host.name}{CONFIG_DIR}/{group}.json"] = config_template.render(config=config)
    tree.directories.extend(f"{name}{CONFIG_DIR}" for name in plan.model.idle_hosts)
    tree.files[PLAN_FILE] = format_json(plan.to_json()) + "\n"
    tree.files[MARKER] = MARKER_TEXT
    return tree


def probe_edge_json(edge: Edge, hosts: dict[str, Host]) -> dict[str, Any]:
    """An edge as the probe config lists it: the plan's keys plus both addresses and the PKCS#1 flag."""
    return {
        **edge_json(edge),
        "src_address": hosts[edge.src].address,
        "dst_address": hosts[edge.dst].address,
        "pkcs1_padding": edge.pkcs1_padding,
    }


def probe_config(
    host: Host,
    group: str,
    edges: list[dict[str, Any]],
    echo: dict[str, Any] | None = None,
    rotation: Schedule | None = None,
) -> dict[str, Any]:
    """The schema 1 probe config of `host` in `group` (docs/probe-config.md), keys in the documented order;
    a group with an echo adds its `echo`, a rotating group its `schedule`."""
    config: dict[str, Any] = {
        "schema": CONFIG_SCHEMA,
        "revision": "",
        "host": host.uid,
        "group": group,
        "address": host.address,
        "iperf3": {
            "binary": host.iperf3_binary,
            "test_duration": host.test_duration,
            "connect_timeout_ms": CONNECT_TIMEOUT_MS,
        },
        "auth": probe_auth_config(host.uid, host.auth, host.time_skew_threshold),
        "edges": edges,
        "databases": [
            {
                "name": database.name,
                "url": database.url,
                "org": database.org,
                "bucket": database.bucket,
                "token_path": f"{CONFIG_DIR}/secrets/influxdb-{index}.token",
                "ca_path": database.ca_path,
                "verify_tls": database.verify_tls,
            }
            for index, database in enumerate(host.databases)
        ],
        "spool": {"directory": f"/var/lib/syntraf/spool/{group}", "max_bytes": host.spool_max_bytes},
        "state_path": f"/run/syntraf/{group}.state.json",
        "log_level": host.log_level,
    }
    if echo is not None:  # optional: configs without an echo stay as they were
        config["echo"] = echo
    if rotation is not None:
        config["schedule"] = schedule_json(rotation)
    config["revision"] = config_revision(config)
    return config


def config_revision(config: dict[str, Any]) -> str:
    """First 12 hex digits of the SHA-256 of the canonical JSON (sorted keys, no spaces), sans `revision`."""
    content = {key: value for key, value in config.items() if key != "revision"}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:12]


def render_to(plan: Plan, out_dir: str, before_commit: Callable[[], None] | None = None) -> None:
    """What `render` and `apply` do: write every host's files to `out_dir` and record the plan in the lock.

    `out_dir` is a directory render_target accepted. The lock file and the tree are both staged beside their
    targets first, so a failure there (a read-only inventory directory, a full disk) writes nothing; then
    `before_commit` runs (it prepares the key material); then the lock is committed before the tree: a lock
    ahead of its tree is harmless (the next render computes the same ports from it), a tree ahead of its lock
    would deploy ports that nothing records. Raises OSError.
    """
    staged_lock = stage_lock(plan.lock_path, plan.lock_state())
    try:
        staging = stage_tree(render_plan(plan), out_dir)
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
    place) and return its path."""
    out_dir = os.path.abspath(out_dir)
    parent = os.path.dirname(out_dir)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".{os.path.basename(out_dir)}.new-", dir=parent)
    try:
        os.chmod(staging, 0o755)
        directories = set(tree.directories) | {os.path.dirname(relative) for relative in tree.files}
        for directory in sorted(directories):
            os.makedirs(os.path.join(staging, directory), exist_ok=True)
        for relative, content in tree.files.items():
            with open(os.path.join(staging, relative), "w", encoding="utf-8") as stream:
                stream.write(content)
    except BaseException:
        shutil.rmtree(staging)
        raise
    return staging


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
