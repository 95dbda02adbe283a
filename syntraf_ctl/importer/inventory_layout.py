"""Lay a SYNTRAF config out as an Ansible inventory directory, in memory: {relative path: YAML text}."""

from __future__ import annotations

import re
from dataclasses import dataclass

from syntraf_ctl.importer.config import Node, SyntrafConfig
from syntraf_ctl.importer.notes import CHANGED, IGNORED, TODO, Note
from syntraf_ctl.importer.selection import host_selection
from syntraf_ctl.importer.traffic import flag_packet_size, group_entry, profile_entry
from syntraf_ctl.importer.values import ConfigImportError, format_bandwidth
from syntraf_ctl.importer.yamlout import Commented, Template, dump

HOSTS_FILE = "hosts.yml"
VARS_FILE = "group_vars/all/syntraf.yml"
VAULT_FILE = "group_vars/all/vault.yml"
_NOT_A_NAME = re.compile(r"\W")  # Ansible group and variable names: letters, digits and _ only
_GROUP_KEY_ORDER = (
    "members",
    "profile",
    "disabled",
    "bandwidth",
    "packet_size",
    "packets_per_second",
    "dscp",
    "interval",
)


@dataclass
class Inventory:
    files: dict[str, str]  # relative path -> text
    secret_files: set[str]  # the paths to encrypt when a vault password is given
    notes: list[Note]
    dynamic_hosts: set[str]  # hosts whose ansible_host is left for the user to fill (a TODO, not an error)


def safe_names(uids: list[str], what: str, reserved: tuple[str, ...] = ()) -> dict[str, str]:
    """A valid Ansible name for each uid ('-' becomes '_', a leading digit gets 'g_'); an error on clashes."""
    names: dict[str, str] = {}
    for uid in uids:
        name = _NOT_A_NAME.sub("_", uid)
        name = f"g_{name}" if name[0].isdigit() else name
        clash = next((other for other, taken in names.items() if taken == name), None)
        if clash or name in reserved:
            raise ConfigImportError(
                f"{what} {uid!r} and {clash or name!r} both become {name!r} in the inventory; "
                "rename one of them"
            )
        names[uid] = name
    return names


def _as_written(entry: dict) -> dict:
    """A group or profile entry in a stable key order, its bandwidth spelled as a person would."""
    if "bandwidth" in entry:
        entry = {**entry, "bandwidth": format_bandwidth(entry["bandwidth"])}
    return {key: entry[key] for key in _GROUP_KEY_ORDER if key in entry}


def _mesh_groups(config: SyntrafConfig, inventory_groups: dict[str, str], notes: list[Note]) -> dict:
    profiles = {profile.uid: profile for profile in config.profiles}
    mesh_groups: dict = {}
    for group in config.groups:
        entry = group_entry(group, profiles.get(group.profile or ""), notes)
        if group.disabled:
            entry["disabled"] = True
        comment = None
        if inventory_groups[group.uid] != group.uid:
            entry["members"] = inventory_groups[group.uid]
            comment = "Ansible group names allow letters, digits and _ only; the mesh group keeps its name"
            notes.append(
                Note(
                    CHANGED,
                    f"[[MESH_GROUP]] {group.uid}",
                    f"its hosts are in inventory group "
                    f"{entry['members']} (members: {entry['members']}); results keep group={group.uid}",
                )
            )
        entry = _as_written(entry)
        mesh_groups[group.uid] = Commented(entry, comment) if comment else entry
    return mesh_groups


def _profiles(config: SyntrafConfig, notes: list[Note]) -> dict:
    used = {group.profile for group in config.groups}
    profiles = {}
    for profile in config.profiles:
        flag_packet_size(profile.traffic.given, f"[[IPERF3_PROFILE]] {profile.uid}", notes)
        if profile.uid not in used:
            notes.append(Note(IGNORED, f"[[IPERF3_PROFILE]] {profile.uid}", "no mesh group uses it (kept)"))
        profiles[profile.uid] = _as_written(profile_entry(profile))
    return profiles


def _group_vars(
    config: SyntrafConfig, inventory_groups: dict[str, str], notes: list[Note]
) -> tuple[dict, dict]:
    """(group_vars/all/syntraf.yml, group_vars/all/vault.yml) contents."""
    data: dict = {}
    if config.profiles:
        data["syntraf_iperf3_profiles"] = _profiles(config, notes)
    data["syntraf_mesh_groups"] = _mesh_groups(config, inventory_groups, notes)
    if config.port_range:
        data["syntraf_listen_port_range"] = config.port_range
    token_names = safe_names([db.uid.lower() for db in config.databases], "[[DATABASE]] DB_UID")
    vault = {
        f"vault_syntraf_influxdb_token_{token_names[db.uid.lower()]}": db.token for db in config.databases
    }
    if config.databases:
        data["syntraf_influxdb"] = [
            {
                "name": db.uid,
                "url": db.url,
                "org": db.org,
                "bucket": db.bucket,
                "token": Template(f"{{{{ {variable} }}}}"),
            }
            for db, variable in zip(config.databases, vault)
        ]
    else:
        notes.append(
            Note(
                TODO,
                "[[DATABASE]]",
                "none in the file: add syntraf_influxdb to "
                f"{VARS_FILE} (where the probes write their results)",
            )
        )
    for key, value in (
        ("syntraf_iperf3_time_skew_threshold", config.time_skew_threshold),
        ("syntraf_iperf3_auth", config.iperf3_auth),
        ("syntraf_log_level", config.log_level),
    ):
        if value is not None:
            data[key] = value
    return data, vault


def _host_vars(node: Node, selection: tuple[dict, dict]) -> dict:
    include_only, exclude = selection
    candidates = {
        "syntraf_include_only": include_only,
        "syntraf_exclude": exclude,
        "syntraf_override_dst": node.override_dst,
        "syntraf_max_bandwidth": format_bandwidth(node.max_bandwidth_bps) if node.max_bandwidth_bps else None,
        "syntraf_listen_port_range": node.port_range,
        "syntraf_behind_nat": node.behind_nat or None,
    }
    return {key: value for key, value in candidates.items() if value}


def _hosts(config: SyntrafConfig, inventory_groups: dict[str, str], notes: list[Note]) -> dict:
    hosts: dict = {}
    for node in config.nodes:
        if node.address is None:
            # Left empty, not omitted: without ansible_host the address would default to the host's name.
            hosts[node.uid] = {
                "ansible_host": Commented(None, "TODO: SYNTRAF IP_ADDRESS was 0.0.0.0 (dynamic)")
            }
        else:
            hosts[node.uid] = {"ansible_host": node.address}
        if not node.groups:
            notes.append(
                Note(
                    IGNORED,
                    f"[[SERVER_CLIENT]] {node.uid}",
                    "in no mesh group: it measures nothing, as in the original (kept as a host)",
                )
            )
    children: dict = {}
    for group in config.groups:
        members = {node.uid: None for node in config.nodes if group.uid in node.groups}
        children[inventory_groups[group.uid]] = {"hosts": members} if members else {}
    return {"all": {"hosts": hosts, "children": children}}


def _note_nat_pairs(nodes: list[Node], notes: list[Note]) -> None:
    """Two hosts behind NAT in a common group were never measured; plan leaves them out too."""
    behind_nat = [node for node in nodes if node.behind_nat]
    for index, node in enumerate(behind_nat):
        for peer in behind_nat[index + 1 :]:
            if set(peer.groups) & set(node.groups):
                message = f"{peer.uid} is behind NAT too: the pair is not measured, as in the original"
                notes.append(Note(IGNORED, f"[[SERVER_CLIENT]] {node.uid}: BEHIND_NAT", message))


def config_group_names(config: SyntrafConfig, inventory_groups: dict[str, str]) -> set[str]:
    """Every name a mesh group goes by: its UID and its inventory group's name."""
    return {g.uid for g in config.groups} | set(inventory_groups.values())


def build_inventory(config: SyntrafConfig, notes: list[Note], source: str) -> Inventory:
    """Every file of the inventory directory, as text; `notes` gains what the mapping changed."""
    notes = list(notes)
    inventory_groups = safe_names([g.uid for g in config.groups], "[[MESH_GROUP]] UID", ("all", "ungrouped"))
    for node in config.nodes:
        if node.uid in config_group_names(config, inventory_groups):
            raise ConfigImportError(
                f"[[SERVER_CLIENT]] UID {node.uid!r} is also the name of a mesh group: Ansible would take "
                "the group's host pattern for this one host; rename one of them"
            )
    banner = f"Imported from {source} by `syntraf-ctl import-toml`; see docs/migration.md."
    files = {
        HOSTS_FILE: dump(
            _hosts(config, inventory_groups, notes),
            f"{banner}\nOne inventory group per SYNTRAF [[MESH_GROUP]]; hosts are its "
            "[[SERVER_CLIENT]] entries.",
        )
    }
    data, vault = _group_vars(config, inventory_groups, notes)
    files[VARS_FILE] = dump(
        data,
        f"{banner}\nMesh-wide settings: SYNTRAF [[IPERF3_PROFILE]], [[MESH_GROUP]], "
        "[[DATABASE]], [GLOBAL] and [SERVER].",
    )
    if vault:
        files[VAULT_FILE] = dump(
            vault,
            "InfluxDB tokens from the SYNTRAF [[DATABASE]] sections.\n"
            "Encrypt this file before you commit or share it:\n"
            f"  ansible-vault encrypt {VAULT_FILE}",
        )
    selections = host_selection(config.nodes, notes)
    for node in config.nodes:
        host_vars = _host_vars(node, selections[node.uid])
        if host_vars:
            files[f"host_vars/{node.uid}.yml"] = dump(
                host_vars, f"{banner}\nSYNTRAF [[SERVER_CLIENT]] {node.uid}."
            )
    _note_nat_pairs(config.nodes, notes)
    dynamic = {node.uid for node in config.nodes if node.address is None}
    return Inventory(files, {VAULT_FILE} if vault else set(), notes, dynamic)
