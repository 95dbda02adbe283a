"""render/apply create the material beside the inventory, keep it, encrypt it when given a vault password,
and never write a secret into the render directory."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from syntraf_ctl.auth.store import load_store
from syntraf_ctl.cli import main

HOSTS = """\
all:
  vars:
    syntraf_mesh_groups: {lab: {}}
  children:
    lab:
      hosts:
        a: {ansible_host: 192.0.2.1}
        b: {ansible_host: 192.0.2.2}
"""


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    root = tmp_path / "inventory"
    root.mkdir()
    (root / "hosts.yml").write_text(HOSTS)
    return root


def _secrets_in(store) -> list[str]:
    return [s for m in store.generations[store.active].hosts.values() for s in (m.seed, m.private_key)]


def test_render_creates_the_store_once_and_keeps_secrets_out_of_the_render_dir(inventory, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["render", "-i", str(inventory), "-o", str(out)]) == 0
    path = inventory / ".syntraf-secrets" / "iperf3-auth.yml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    err = capsys.readouterr().err
    assert "new iperf3 authentication material for a, b" in err and "ansible-vault encrypt" in err
    store = load_store(str(path))
    assert main(["render", "-i", str(inventory), "-o", str(out)]) == 0
    assert load_store(str(path)) == store  # the same keys on every run
    secrets = _secrets_in(store)
    for file in out.rglob("*"):
        if file.is_file() and file.suffix != ".pyz":  # the probe zipapp holds no key material
            text = file.read_text()
            assert not any(secret in text for secret in secrets), file
            assert "PRIVATE KEY" not in text


def test_vault_password_encrypts_the_store_and_is_then_required(inventory, tmp_path, capsys):
    vault = tmp_path / "vault-pass"
    vault.write_text("s3cret vault pass\n")
    out = tmp_path / "out"
    assert main(["render", "-i", str(inventory), "-o", str(out), "--vault-password-file", str(vault)]) == 0
    path = inventory / ".syntraf-secrets" / "iperf3-auth.yml"
    assert path.read_bytes().startswith(b"$ANSIBLE_VAULT;")
    assert "ansible-vault encrypt" not in capsys.readouterr().err
    assert main(["render", "-i", str(inventory), "-o", str(out)]) == 1
    assert "is vault-encrypted: give --vault-password-file" in capsys.readouterr().err


def test_a_plain_store_is_encrypted_once_a_vault_password_is_given(inventory, tmp_path):
    out = tmp_path / "out"
    assert main(["render", "-i", str(inventory), "-o", str(out)]) == 0
    path = inventory / ".syntraf-secrets" / "iperf3-auth.yml"
    before = load_store(str(path))
    vault = tmp_path / "vault-pass"
    vault.write_text("pass\n")
    assert main(["render", "-i", str(inventory), "-o", str(out), "--vault-password-file", str(vault)]) == 0
    assert path.read_bytes().startswith(b"$ANSIBLE_VAULT;")
    assert load_store(str(path), str(vault)) == before
    assert not [name for name in os.listdir(path.parent) if name.endswith(".tmp")]


def test_hosts_without_auth_get_no_material(inventory, tmp_path):
    (inventory / "group_vars").mkdir()
    (inventory / "group_vars" / "all.yml").write_text("syntraf_iperf3_auth: false\n")
    assert main(["render", "-i", str(inventory), "-o", str(tmp_path / "out")]) == 0
    assert not (inventory / ".syntraf-secrets").exists()
