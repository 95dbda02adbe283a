"""The Ansible side this package ships, and where syntraf's files live on a host.

`ansible_collections/syntraf/mesh/` is the collection syntraf.mesh (role, modules, playbooks): syntraf-ctl
runs it from here, and `ansible-galaxy collection build` packs the same tree. The host layout (paths, the
user, the interpreter) is stated once, in the role's `vars/main.yml`; the controller reads it from there
for the configs and units it renders, so the two sides cannot disagree.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, fields
from pathlib import Path

import yaml

PACKAGE_DIR = Path(__file__).resolve().parent
ANSIBLE_CONFIG = PACKAGE_DIR / "ansible.cfg"
COLLECTION_DIR = PACKAGE_DIR / "ansible_collections" / "syntraf" / "mesh"
PLAYBOOK_DIR = COLLECTION_DIR / "playbooks"
LAYOUT_FILE = COLLECTION_DIR / "roles" / "syntraf_probe" / "vars" / "main.yml"


@dataclass(frozen=True)
class HostLayout:
    """Fixed by the contract between the role, the rendered units and the probe configs."""

    user: str
    python: str
    config_dir: str
    secrets_dir: str
    auth_dir: str
    install_dir: str
    pyz_path: str
    unit_dir: str
    state_dir: str
    run_dir: str
    sysusers_file: str


@functools.cache
def host_layout() -> HostLayout:
    """The layout from the role's vars/main.yml (its `syntraf_probe_<field>` entries)."""
    values = yaml.safe_load(LAYOUT_FILE.read_text(encoding="utf-8"))
    return HostLayout(**{item.name: str(values[f"syntraf_probe_{item.name}"]) for item in fields(HostLayout)})
