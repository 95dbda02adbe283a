"""Render a plan into per-host files, laid out as they will be on each host (DIR/<host>/etc/...).

Templates are shipped in syntraf_ctl/templates/ and rendered with StrictUndefined; the same plan always gives
byte-identical files. No secret is ever rendered: configs name the paths where the role puts secrets.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import jinja2

from syntraf_ctl.auth.scope import probe_auth_config
from syntraf_ctl.lockfile import write_lock
from syntraf_ctl.mesh import Edge
from syntraf_ctl.model import Host
from syntraf_ctl.plan import Plan, edge_json, format_json

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
PLAN_FILE = "plan.json"


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
    """Every file of every host, and DIR/plan.json."""
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
            config = probe_config(host, group, edges_of.get((uid, group), []))
            tree.files[f"{host.name}{CONFIG_DIR}/{group}.json"] = config_template.render(config=config)
    tree.directories.extend(f"{name}{CONFIG_DIR}" for name in plan.model.idle_hosts)
    tree.files[PLAN_FILE] = format_json(plan.to_json()) + "\n"
    return tree


def probe_edge_json(edge: Edge, hosts: dict[str, Host]) -> dict[str, Any]:
    """An edge as the probe config lists it: the plan's keys plus both addresses and the PKCS#1 flag."""
    return {
        **edge_json(edge),
        "src_address": hosts[edge.src].address,
        "dst_address": hosts[edge.dst].address,
        "pkcs1_padding": edge.pkcs1_padding,
    }


def probe_config(host: Host, group: str, edges: list[dict[str, Any]]) -> dict[str, Any]:
    """The schema 1 probe config of `host` in `group` (docs/probe-config.md), keys in the documented order."""
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
    config["revision"] = config_revision(config)
    return config


def config_revision(config: dict[str, Any]) -> str:
    """First 12 hex digits of the SHA-256 of the canonical JSON (sorted keys, no spaces), sans `revision`."""
    content = {key: value for key, value in config.items() if key != "revision"}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:12]


def render_to(plan: Plan, out_dir: str) -> None:
    """What `render` and `apply` do: write every host's files to `out_dir`, then record ports in the lock."""
    write_tree(render_plan(plan), out_dir)
    write_lock(plan.lock_path, plan.locked_ports())


def write_tree(tree: RenderedTree, out_dir: str) -> None:
    """Replace `out_dir` with exactly `tree`, so files of removed hosts and groups do not linger.

    `out_dir` must be absent, empty, or an earlier render (it has a plan.json): anything else is refused
    rather than deleted. The new tree is built beside it and swapped in with renames.
    """
    out_dir = os.path.abspath(out_dir)
    if os.path.exists(out_dir) and not _replaceable(out_dir):
        raise FileExistsError(
            f"{out_dir} exists and is not an earlier syntraf-ctl render (no {PLAN_FILE}): "
            "refusing to replace it"
        )
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
        if os.path.exists(out_dir):
            old = tempfile.mkdtemp(prefix=f".{os.path.basename(out_dir)}.old-", dir=parent)
            os.replace(out_dir, os.path.join(old, "tree"))
            os.replace(staging, out_dir)
            shutil.rmtree(old)
        else:
            os.replace(staging, out_dir)
    finally:
        if os.path.exists(staging):
            shutil.rmtree(staging)


def _replaceable(path: str) -> bool:
    return os.path.isdir(path) and (not os.listdir(path) or os.path.isfile(os.path.join(path, PLAN_FILE)))
