"""The lab's Ansible inventory (hosts.yml, group_vars/all/{main,vault}.yml): rendered from the lab's state
(pure), then written atomically into a directory marked as the lab's, so `lab down` never deletes a
directory it did not write.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import yaml

from syntraf_ctl.lab.errors import LabError
from syntraf_ctl.lab.mounts import remove_tree
from syntraf_ctl.lab.ssh import SSH_OPTIONS
from syntraf_ctl.lab.state import Host, LabState

MARKER = ".syntraf-lab"
HOSTS_FILE = "hosts.yml"

# The example mesh the demo applies, with the keys of inventories/example/group_vars/all/main.yml.
IPERF3_PROFILES = {"g711": {"dscp": "ef", "interval": 1, "packet_size": 172, "packets_per_second": 50}}
MESH_GROUP_SETTINGS = {
    "voip": {"profile": "g711"},
    "bulk": {"dscp": 0, "interval": 1, "bandwidth": "200k", "packet_size": 1000},
}


def new_token() -> str:
    return secrets.token_urlsafe(32)


def render_inventory(state: LabState, token: str) -> dict[str, str]:
    """File name (relative to the inventory directory) -> contents."""
    main_yml = {
        "syntraf_iperf3_profiles": IPERF3_PROFILES,
        "syntraf_mesh_groups": MESH_GROUP_SETTINGS,
        "syntraf_influxdb": [
            {"url": state.db_url, "org": "lab", "bucket": "syntraf", "token": "{{ vault_influxdb_token }}"}
        ],
    }
    return {
        HOSTS_FILE: render_hosts(state),
        "group_vars/all/main.yml": _header(state) + _yaml(main_yml),
        "group_vars/all/vault.yml": _header(state) + _yaml({"vault_influxdb_token": token}),
        MARKER: f"{state.name}\n",
    }


def render_hosts(state: LabState) -> str:
    """hosts.yml: every host with its address, the groups with their members, how to connect."""
    hosts_yml = {
        "all": {
            "hosts": {host.name: _host_vars(state, host) for host in state.hosts},
            "vars": {
                "ansible_user": "root",
                "ansible_ssh_private_key_file": str(state.ssh_key),
                "ansible_ssh_common_args": SSH_OPTIONS,
                "ansible_python_interpreter": "/usr/bin/python3",
            },
            "children": {
                group: {"hosts": dict.fromkeys(members)} for group, members in state.groups.items() if members
            },
        }
    }
    return _header(state) + _yaml(hosts_yml)


def _host_vars(state: LabState, host: Host) -> dict[str, object]:
    """Management on the bridge (`ansible_host`); in a WAN lab, measurement across the sites."""
    found: dict[str, object] = {"ansible_host": host.address}
    if host.wan_address:
        found["syntraf_address"] = host.wan_address
    if host.site in state.nat_sites:
        found["syntraf_behind_nat"] = True
    return found


def _header(state: LabState) -> str:
    return f"# Written by `syntraf-ctl lab up` for lab {state.name}; removed by `syntraf-ctl lab down`.\n"


def _yaml(data: object) -> str:
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False)


def write_inventory(directory: Path, files: dict[str, str]) -> None:
    """Replace `directory` with exactly `files` (mode 0600: group_vars holds the database token) at once."""
    _check_ours(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = directory.with_name(f".{directory.name}.new-{os.getpid()}")
    old = directory.with_name(f".{directory.name}.old-{os.getpid()}")
    remove_tree(staging)
    for name, text in files.items():
        path = staging / name
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(text)
    if directory.exists():
        directory.rename(old)
    staging.rename(directory)
    remove_tree(old)


def rewrite_hosts(state: LabState) -> None:
    """Replace hosts.yml alone (what `apply` wrote next to it, such as its port lock file, stays)."""
    directory = Path(state.inventory_dir)
    _check_ours(directory)
    staging = directory / f".{HOSTS_FILE}.{os.getpid()}"
    descriptor = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(render_hosts(state))
    staging.replace(directory / HOSTS_FILE)


def update_settings(directory: Path, settings: dict[str, object]) -> None:
    """Set these keys of group_vars/all/main.yml (the mesh a test or a benchmark measures, say)."""
    _check_ours(directory)
    main = directory / "group_vars/all/main.yml"
    current = yaml.safe_load(main.read_text())
    main.write_text(_yaml({**current, **settings}))


def remove_inventory(directory: Path) -> None:
    if directory.exists():
        _check_ours(directory)
        remove_tree(directory)


def _check_ours(directory: Path) -> None:
    if directory.exists() and any(directory.iterdir()) and not (directory / MARKER).exists():
        raise LabError(f"{directory} exists and was not written by the lab: choose another --inventory-dir")
