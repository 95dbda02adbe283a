"""The pure core: TOML text in, inventory files and migration notes out (no disk, no Ansible)."""

from __future__ import annotations

import pytest
import yaml

from import_toml.conftest import FIXTURES
from syntraf_ctl.importer import ConfigImportError, convert
from syntraf_ctl.importer.notes import CHANGED, GONE, IGNORED, TODO, summary

MINIMAL_NODES = """
[[SERVER_CLIENT]]
UID = "node-a"
IP_ADDRESS = "192.0.2.1"
MESH_GROUP_UID_LIST = ["LAB"]

[[SERVER_CLIENT]]
UID = "node-b"
IP_ADDRESS = "192.0.2.2"
MESH_GROUP_UID_LIST = ["LAB"]
"""


def files_of(name: str) -> tuple[dict, list]:
    inventory = convert((FIXTURES / name).read_text(), name)
    return {path: yaml.safe_load(text) for path, text in inventory.files.items()}, inventory.notes


def group_vars(text: str) -> dict:
    return yaml.safe_load(convert(text, "test.toml").files["group_vars/all/syntraf.yml"])


def notes_about(notes: list, kind: str) -> set[str]:
    return {note.where for note in notes if note.kind == kind}


def test_readme_example_layout() -> None:
    files, _ = files_of("readme_example.toml")
    assert set(files) == {
        "hosts.yml",
        "group_vars/all/syntraf.yml",
        "group_vars/all/vault.yml",
        "host_vars/SYNTRAF-SRV.yml",
        "host_vars/LAB3-VM.yml",
        "host_vars/REDHAT8.yml",
    }
    hosts = files["hosts.yml"]["all"]
    assert hosts["hosts"]["LAB3-VM"] == {"ansible_host": "lab3-vm.example.net"}
    assert set(hosts["children"]["LAB"]["hosts"]) == {"SYNTRAF-SRV", "CENTOS8", "LAB3-VM", "REDHAT8"}
    settings = files["group_vars/all/syntraf.yml"]
    assert settings["syntraf_mesh_groups"] == {
        "DEFAULT_MG_VOIP": {"bandwidth": 87200, "packet_size": 218, "dscp": 46, "interval": 1},
        "LAB": {"bandwidth": "100k", "packet_size": 32, "dscp": 0, "interval": 10},
        "PROD": {"bandwidth": "33k", "packet_size": 32, "dscp": 0, "interval": 1},
    }
    assert settings["syntraf_influxdb"] == [
        {
            "name": "INFLUX_MAIN",
            "url": "https://10.2.0.20:8086",
            "org": "SYNTRAF",
            "bucket": "SYNTRAF",
            "token": "{{ vault_syntraf_influxdb_token_influx_main }}",
        }
    ]
    assert files["group_vars/all/vault.yml"] == {
        "vault_syntraf_influxdb_token_influx_main": "readme-example-influx-token"
    }
    assert settings["syntraf_log_level"] == "info"
    assert files["host_vars/SYNTRAF-SRV.yml"] == {
        "syntraf_exclude": {"LAB": ["CENTOS8"]},
        "syntraf_override_dst": {"LAB3-VM": "10.2.0.202"},
    }
    assert files["host_vars/LAB3-VM.yml"] == {
        "syntraf_max_bandwidth": "1m",
        "syntraf_listen_port_range": "17000-17100",
    }
    # REDHAT8's include-only names CENTOS8.1, which is no host: the original matched nothing with it.
    assert files["host_vars/REDHAT8.yml"] == {
        "syntraf_include_only": {"LAB": ["CENTOS8"], "PROD": ["LAB3-VM"]}
    }


def test_every_key_without_meaning_is_reported_gone() -> None:
    _, notes = files_of("readme_example.toml")
    assert {
        "[CLIENT]",
        "[SERVER]: TOKEN",
        "[SERVER]: SERVER_PORT",
        "[SERVER]: BIND_ADDRESS",
        "[SERVER]: SERVER_X509_SELFSIGNED_DIRECTORY",
        "[GLOBAL]: WATCHDOG_CHECK_RATE",
        "[GLOBAL]: IPERF3_BINARY_PATH",
        "[GLOBAL]: LOG_TO",
        "[[DATABASE]] INFLUX_MAIN: DB_CONNECTION_POOL_MAXSIZE",
        "[[DATABASE]] INFLUX_MAIN: DB_USE_WEB_PROXY",
        "[[DATABASE]] INFLUX_MAIN: DB_ENGINE",
    } <= notes_about(notes, GONE)
    assert all(note.message for note in notes)


def test_secrets_only_in_the_vault_file() -> None:
    text = (FIXTURES / "multigroup.toml").read_text()
    inventory = convert(text, "multigroup.toml")
    report = summary(inventory.notes)
    for secret in ("a-very-secret-server-token", "primary-influx-token-value", "lab-influx-token-value"):
        assert secret not in report
        holders = [path for path, content in inventory.files.items() if secret in content]
        assert holders == (["group_vars/all/vault.yml"] if "influx" in secret else [])
    assert inventory.secret_files == {"group_vars/all/vault.yml"}
    assert "ansible-vault encrypt" in inventory.files["group_vars/all/vault.yml"]


def test_profile_overwrote_the_group_and_still_does() -> None:
    files, notes = files_of("multigroup.toml")
    groups = files["group_vars/all/syntraf.yml"]["syntraf_mesh_groups"]
    profiles = files["group_vars/all/syntraf.yml"]["syntraf_iperf3_profiles"]
    # VOIP's own DSCP 0 lost to the profile's 46 in the original: the group must not carry it.
    assert groups["VOIP"] == {"profile": "G711"}
    assert profiles["G711"] == {"packet_size": 172, "packets_per_second": 50, "dscp": 46, "interval": 1}
    # BULK_TRANSFER adds PACKET_PER_SECOND to a bandwidth+size profile: size x pps wins, so it is written out.
    assert groups["BULK_TRANSFER"] == {
        "packet_size": 1200,
        "packets_per_second": 100,
        "dscp": 0,
        "interval": 10,
    }
    assert {"[[MESH_GROUP]] VOIP: DSCP", "[[MESH_GROUP]] BULK_TRANSFER: IPERF3_PROFILE"} <= notes_about(
        notes, CHANGED
    )


def test_group_uid_not_an_ansible_name_keeps_its_name_through_members() -> None:
    files, notes = files_of("multigroup.toml")
    assert files["group_vars/all/syntraf.yml"]["syntraf_mesh_groups"]["LAB-NET"]["members"] == "LAB_NET"
    assert "LAB_NET" in files["hosts.yml"]["all"]["children"]
    assert "[[MESH_GROUP]] LAB-NET" in notes_about(notes, CHANGED)
    files, _ = files_of("include_only.toml")
    assert files["group_vars/all/syntraf.yml"]["syntraf_mesh_groups"]["1ST-FLOOR"]["members"] == "g_1ST_FLOOR"


def test_disabled_group_and_dynamic_node() -> None:
    files, notes = files_of("multigroup.toml")
    assert files["group_vars/all/syntraf.yml"]["syntraf_mesh_groups"]["OLD_TESTS"]["disabled"] is True
    assert files["hosts.yml"]["all"]["hosts"]["HOME-NAT4"] == {"ansible_host": None}
    assert "[[SERVER_CLIENT]] HOME-NAT4: IP_ADDRESS" in notes_about(notes, TODO)
    assert files["host_vars/HOME-NAT4.yml"] == {"syntraf_behind_nat": True}


def test_exclusions_the_original_ignored_are_left_out() -> None:
    files, notes = files_of("include_only.toml")
    assert "host_vars/node-d.yml" not in files  # its only exclusion named node-c, which has include-only
    assert files["host_vars/node-b.yml"] == {"syntraf_exclude": {"EDGE": ["node-d"]}}
    assert files["host_vars/node-c.yml"] == {"syntraf_include_only": {"EDGE": []}}
    assert "[[SERVER_CLIENT]] node-d: EXCLUDED_CLIENT_UID.CORE" in notes_about(notes, CHANGED)


@pytest.mark.parametrize(
    ("group", "expected", "noted"),
    [
        ('BANDWIDTH = "87.2K"\nPACKET_SIZE = "218"', {"bandwidth": 87200, "packet_size": 218}, False),
        ("BANDWIDTH = 1000000\nPACKET_SIZE = 100", {"bandwidth": "1m", "packet_size": 100}, False),
        (
            'PACKET_SIZE = "172"\nPACKET_PER_SECOND = "50"',
            {"packet_size": 172, "packets_per_second": 50},
            True,
        ),
        ('BANDWIDTH = "64k"\nPACKET_PER_SECOND = 50', {"bandwidth": "64k", "packet_size": 160}, False),
        ('BANDWIDTH = "100k"\nPACKET_PER_SECOND = 3', {"bandwidth": "100k", "packet_size": 4166}, True),
        (
            'BANDWIDTH = "1M"\nPACKET_SIZE = 100\nPACKET_PER_SECOND = 10',
            {"packet_size": 100, "packets_per_second": 10},
            True,
        ),
        ('BANDWIDTH = "33K"', {"bandwidth": "33k", "packet_size": 32}, True),
        ("PACKET_SIZE = 500", {"bandwidth": "100k", "packet_size": 500}, True),
        ("", {"bandwidth": "100k", "packet_size": 32}, True),
    ],
)
def test_two_of_three_as_the_original_resolved_it(group: str, expected: dict, noted: bool) -> None:
    text = f'[[MESH_GROUP]]\nUID = "LAB"\nINTERVAL = 10\n{group}\n{MINIMAL_NODES}'
    inventory = convert(text, "test.toml")
    entry = yaml.safe_load(inventory.files["group_vars/all/syntraf.yml"])["syntraf_mesh_groups"]["LAB"]
    assert entry == {**expected, "dscp": 0, "interval": 10}
    assert any(note.kind == CHANGED for note in inventory.notes) == noted


def test_invalid_values_fall_back_to_the_original_defaults() -> None:
    group = 'UID = "LAB"\nBANDWIDTH = "10k"\nDSCP = "ef"\nPACKET_SIZE = 8\nINTERVAL = "fast"'
    text = f"[[MESH_GROUP]]\n{group}\n{MINIMAL_NODES}"
    assert group_vars(text)["syntraf_mesh_groups"]["LAB"] == {
        "bandwidth": "10k",
        "packet_size": 32,
        "dscp": 0,
        "interval": 1,
    }


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ('[[MESH_GROUP]]\nUID = "LAB"\nBANDWIDTH = "100k\n', ["not valid TOML", "line 3"]),
        ('[GLOBAL]\nLOG_LEVEL = "info"\n\n[NODES]\nX = 1\n', ["line 4", "unknown section [NODES]"]),
        ('[MESH_GROUP]\nUID = "LAB"\n', ["line 1", "[[MESH_GROUP]]"]),
        (
            '[[MESH_GROUP]]\nUID = "LAB"\n[[SERVER_CLIENT]]\nUID = "node-a"\nIP_ADDRESS = "192.0.2.1"\n'
            'MESH_GROUP_UID_LIST = ["LAB", "VOIP"]\n',
            ["[[SERVER_CLIENT]] node-a: MESH_GROUP_UID_LIST", "'VOIP'"],
        ),
        (
            '[[MESH_GROUP]]\nUID = "LAB"\n[[SERVER_CLIENT]]\nUID = "node-a"\nIP_ADDRESS = "192.0.2.1"\n'
            'EXCLUDED_CLIENT_UID = {VOIP = ["node-b"]}\n',
            ["node-a: EXCLUDED_CLIENT_UID", "'VOIP'"],
        ),
        (
            '[[MESH_GROUP]]\nUID = "LAB"\nIPERF3_PROFILE = "G711"\n',
            ["[[MESH_GROUP]] LAB: IPERF3_PROFILE", "'G711'"],
        ),
        (
            '[[MESH_GROUP]]\nUID = "LAB"\nPACKET_PER_SECOND = 50\n',
            ["LAB: PACKET_PER_SECOND", "two of the three"],
        ),
        ('[[MESH_GROUP]]\nUID = "LAB"\nBANDWIDTH = "fast"\n', ["[[MESH_GROUP]] LAB: BANDWIDTH", "'fast'"]),
        ('[[MESH_GROUP]]\nUID = "LAB"\nBANDWIDTH = "0"\n', ["LAB: BANDWIDTH", "unlimited"]),
        (
            '[[MESH_GROUP]]\nUID = "LAB"\n[[MESH_GROUP]]\nUID = "LAB"\n',
            ["[[MESH_GROUP]] LAB", "defined twice"],
        ),
        (
            '[[MESH_GROUP]]\nUID = "LAB"\n[[SERVER_CLIENT]]\nUID = "node-a"\nIP_ADDRESS = "192.0.2.1"\n'
            'BEHIND_NAT = "false"\n',
            ["node-a: BEHIND_NAT", 'even "false"'],
        ),
        (
            '[[MESH_GROUP]]\nUID = "LAB"\n[[SERVER_CLIENT]]\nUID = "node-a"\nIP_ADDRESS = "192.0.2.1"\n'
            'OVERRIDE_DST_NODE_IP = {node-z = "10.0.0.1"}\n',
            ["node-a: OVERRIDE_DST_NODE_IP", "'node-z'"],
        ),
        ('[[MESH_GROUP]]\nUID = "A-B"\n[[MESH_GROUP]]\nUID = "A_B"\n', ["'A_B'", "rename one"]),
        (
            '[[MESH_GROUP]]\nUID = "LAB"\n[[DATABASE]]\nDB_UID = "main"\nDB_SERVER = "db"\nDB_PORT = 8086\n',
            ["[[DATABASE]] #1: DB_TOKEN", "required"],
        ),
        (
            '[CLIENT]\nCLIENT_UID = "node-a"\nSERVER = "192.0.2.1"\nTOKEN = "secret-token"\n',
            ["client's config"],
        ),
    ],
)
def test_errors_name_the_place(text: str, fragments: list[str]) -> None:
    with pytest.raises(ConfigImportError) as error:
        convert(text, "bad.toml")
    message = str(error.value)
    assert message.startswith("bad.toml: ")
    for fragment in fragments:
        assert fragment in message
    assert "secret-token" not in message


def test_unknown_keys_are_listed_not_silently_dropped() -> None:
    text = f'[[MESH_GROUP]]\nUID = "LAB"\nBANDWITH = "1M"\n{MINIMAL_NODES}'
    inventory = convert(text, "test.toml")
    assert "[[MESH_GROUP]] LAB: BANDWITH" in notes_about(inventory.notes, IGNORED)
    assert "BANDWITH" in summary(inventory.notes)
