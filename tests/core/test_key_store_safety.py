"""Secrets: the key store never lands in git in clear; `apply --check` writes no secret (docs/security.md).

Real git repositories and real CLI runs; the hosts of the apply test refuse SSH at once (port 1 of loopback),
so the deploy playbook really runs and fails, as against a mesh that is down.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from syntraf_ctl.auth.prepare import material_for_check
from syntraf_ctl.auth.store import load_store
from syntraf_ctl.cli import main
from syntraf_ctl.compile import compile_inventory

from .conftest import REVIEW_HOSTS, review_inventory, snapshot

STORE = Path("inv/.syntraf-secrets/iperf3-auth.yml")
CLI = Path(sys.executable).parent / "syntraf-ctl"


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git repository holding the review's base inventory at inv/."""
    monkeypatch.chdir(tmp_path)
    subprocess.run(["git", "init", "-q"], check=True)
    review_inventory(tmp_path / "inv")
    return tmp_path


def committed_by_add_all() -> list[str]:
    subprocess.run(["git", "add", "-A"], check=True)
    listed = subprocess.run(["git", "ls-files"], check=True, capture_output=True, text=True)
    return listed.stdout.split()


def test_a_clear_store_is_ignored_by_git_and_the_output_says_so_once(repo, capsys):
    assert main(["render", "-i", "inv", "-o", "out"]) == 0
    err = capsys.readouterr().err
    assert err.count("so git ignores it (inv/.syntraf-secrets/.gitignore)") == 1
    assert "PRIVATE KEY" in STORE.read_text()
    files = committed_by_add_all()
    assert "inv/hosts.yml" in files and not [name for name in files if ".syntraf-secrets" in name]


def test_with_a_vault_password_the_store_is_encrypted_and_may_be_committed(repo, capsys):
    assert main(["render", "-i", "inv", "-o", "out"]) == 0  # first without: ignored
    capsys.readouterr()
    vault = repo / "vault-pass"
    vault.write_text("s3cret\n")
    assert main(["render", "-i", "inv", "-o", "out", "--vault-password-file", str(vault)]) == 0
    assert STORE.read_bytes().startswith(b"$ANSIBLE_VAULT;")
    assert "git ignores it" not in capsys.readouterr().err
    assert str(STORE) in committed_by_add_all()
    assert not (repo / "inv/.syntraf-secrets/.gitignore").exists()


def test_a_gitignore_the_operator_wrote_is_left_alone(repo):
    (repo / "inv/.syntraf-secrets").mkdir(mode=0o700)
    (repo / "inv/.syntraf-secrets/.gitignore").write_text("# mine\n*.bak\n")
    vault = repo / "vault-pass"
    vault.write_text("s3cret\n")
    assert main(["render", "-i", "inv", "-o", "out", "--vault-password-file", str(vault)]) == 0
    assert (repo / "inv/.syntraf-secrets/.gitignore").read_text() == "# mine\n*.bak\n"


def test_apply_check_writes_no_key_material_and_no_lock(repo):
    hosts = REVIEW_HOSTS
    for address in ("127.0.0.1", "127.0.0.2", "127.0.0.3"):  # nothing listens on port 1: unreachable
        hosts = hosts.replace(
            f"ansible_host: {address}", f"ansible_host: {address}, ansible_port: 1, ansible_connection: ssh"
        )
    (repo / "inv/hosts.yml").write_text(hosts)
    before = snapshot(repo / "inv")
    done = subprocess.run([CLI, "apply", "-i", "inv", "--check"], capture_output=True, text=True)
    assert done.returncode == 1  # every host unreachable
    assert "(check mode: nothing is changed)" in done.stdout and "UNREACHABLE" in done.stdout
    assert snapshot(repo / "inv") == before


def test_the_check_key_files_cover_every_planned_host_and_live_in_the_given_directory(repo, tmp_path):
    assert main(["render", "-i", "inv", "-o", "out"]) == 0
    work = tmp_path / "work"
    work.mkdir()
    (repo / "inv/hosts.yml").write_text(REVIEW_HOSTS.replace("}}}}}", "}, a4: {ansible_host: 127.0.0.4}}}}}"))
    before = STORE.read_bytes()
    base = material_for_check(compile_inventory("inv"), None, str(work))
    assert base == str(work)
    written = {path.name for path in (work / ".syntraf-secrets/hosts").iterdir()}
    assert written == {"a1.yml", "a2.yml", "a3.yml", "a4.yml"}
    files = yaml.safe_load((work / ".syntraf-secrets/hosts/a1.yml").read_text())
    store = load_store(str(STORE))
    assert files["listener.pem"] == store.material(store.active, "a1").private_key
    assert not (repo / "inv/.syntraf-secrets/hosts/a4.yml").exists()
    assert STORE.read_bytes() == before
