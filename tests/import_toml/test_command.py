"""The command and its file-writing edge: all files or none, no overwrite without --force, vault encryption,
and the result read by Ansible itself."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader
from ansible.parsing.vault import VaultLib, VaultSecret
from ansible.vars.manager import VariableManager

from import_toml.conftest import FIXTURES, syntraf_ctl

MULTIGROUP = str(FIXTURES / "multigroup.toml")


def all_files(directory: Path) -> set[str]:
    return {str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file()}


def test_writes_the_inventory_and_prints_the_summary(imported) -> None:
    out, result = imported("multigroup.toml")
    assert all_files(out) == {
        "hosts.yml",
        "group_vars/all/syntraf.yml",
        "group_vars/all/vault.yml",
        "host_vars/MTL-SRV1.yml",
        "host_vars/TOR-SRV2.yml",
        "host_vars/HOME-NAT4.yml",
        "host_vars/CAFE-NAT5.yml",
    }
    assert stat.S_IMODE((out / "group_vars/all/vault.yml").stat().st_mode) == 0o600
    assert "Migration summary" in result.stdout
    assert "[SERVER]: TOKEN: syntraf has no control channel" in result.stdout
    assert "HOME-NAT4" in result.stdout and "ansible-vault encrypt" in result.stdout
    for secret in ("a-very-secret-server-token", "primary-influx-token-value"):
        assert secret not in result.stdout + result.stderr


def test_ansible_reads_the_inventory(imported) -> None:
    out, _ = imported("multigroup.toml")
    loader = DataLoader()
    inventory = InventoryManager(loader=loader, sources=[str(out)])
    variables = VariableManager(loader=loader, inventory=inventory)
    assert {"VOIP", "LAB_NET", "BULK_TRANSFER", "OLD_TESTS"} <= set(inventory.groups)
    tor = variables.get_vars(host=inventory.get_host("TOR-SRV2"))
    assert tor["syntraf_override_dst"] == {"QC-SRV3": "203.0.113.30"}
    assert tor["syntraf_listen_port_range"] == "20000-20100"  # the host's own range wins over group_vars/all
    assert tor["vault_syntraf_influxdb_token_primary"] == "primary-influx-token-value"
    assert set(tor["syntraf_mesh_groups"]) == {"VOIP", "LAB-NET", "BULK_TRANSFER", "OLD_TESTS"}


def test_refuses_to_overwrite_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "hosts.yml").write_text("# mine\n")
    result = syntraf_ctl("import-toml", MULTIGROUP, "-o", str(tmp_path))
    assert result.returncode == 2
    assert "hosts.yml" in result.stderr and "--force" in result.stderr and "nothing written" in result.stderr
    assert all_files(tmp_path) == {"hosts.yml"}
    assert (tmp_path / "hosts.yml").read_text() == "# mine\n"
    forced = syntraf_ctl("import-toml", MULTIGROUP, "-o", str(tmp_path), "--force")
    assert forced.returncode == 0, forced.stderr
    assert "MTL-SRV1" in (tmp_path / "hosts.yml").read_text()


@pytest.mark.parametrize(
    ("name", "fragments"),
    [
        ("malformed.toml", ["not valid TOML", "line 6"]),
        ("unknown_section.toml", ["line 4", "unknown section [SERVERS]"]),
        ("missing_group.toml", ["[[SERVER_CLIENT]] MTL-SRV1: MESH_GROUP_UID_LIST", "'LAB'"]),
    ],
)
def test_broken_config_is_named_and_nothing_written(tmp_path: Path, name: str, fragments: list[str]) -> None:
    out = tmp_path / "out"
    result = syntraf_ctl("import-toml", str(FIXTURES / "broken" / name), "-o", str(out))
    assert result.returncode == 2
    assert result.stderr.startswith(f"syntraf-ctl import-toml: {FIXTURES / 'broken' / name}: ")
    for fragment in fragments:
        assert fragment in result.stderr
    assert not out.exists()


def test_bad_config_writes_nothing(tmp_path: Path) -> None:
    config = tmp_path / "syntraf.toml"
    config.write_text(
        (FIXTURES / "multigroup.toml").read_text().replace('"LAB-NET", "BULK_TRANSFER"]', '"LABNET"]')
    )
    out = tmp_path / "out"
    result = syntraf_ctl("import-toml", str(config), "-o", str(out))
    assert result.returncode == 2
    assert "[[SERVER_CLIENT]] TOR-SRV2: MESH_GROUP_UID_LIST" in result.stderr and "'LABNET'" in result.stderr
    assert not out.exists()


def test_vault_password_file_encrypts_the_tokens(tmp_path: Path, imported) -> None:
    password = tmp_path / "vault-pass"
    password.write_text("correct horse battery staple\n")
    out, result = imported("multigroup.toml", "--vault-password-file", str(password))
    vault_text = (out / "group_vars/all/vault.yml").read_text()
    assert vault_text.startswith("$ANSIBLE_VAULT;")
    assert "influx-token" not in vault_text
    assert "ansible-vault encrypt" not in result.stdout  # nothing left to encrypt by hand
    clear = VaultLib([("default", VaultSecret(b"correct horse battery staple"))]).decrypt(vault_text).decode()
    assert "vault_syntraf_influxdb_token_lab_db: lab-influx-token-value" in clear


def test_unreadable_password_file_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = syntraf_ctl(
        "import-toml", MULTIGROUP, "-o", str(out), "--vault-password-file", str(tmp_path / "none")
    )
    assert result.returncode == 2 and "vault password" in result.stderr
    assert not out.exists()
