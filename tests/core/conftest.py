"""Test inventories: real YAML/INI files in a temporary directory, loaded by the real Ansible loader."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from ansible.parsing.vault import VaultLib, VaultSecret

from syntraf_ctl.cli import main
from syntraf_ctl.compile import compile_inventory
from syntraf_ctl.plan import Plan
from syntraf_ctl.problems import ValidationError

# Shared settings most tests start from: one database (a templated token) and the default port range.
BASE_ALL = """\
syntraf_influxdb:
  - {url: "http://db.example.net:8086", org: noc, bucket: syntraf, token: "{{ vault_token }}"}
vault_token: test-token-value
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


class InventoryDir:
    """An inventory directory under construction: hosts.yml, group_vars/, host_vars/."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def hosts(self, text: str, name: str = "hosts.yml") -> InventoryDir:
        write(self.root / name, text)
        return self

    def group_vars(self, group: str, text: str) -> InventoryDir:
        write(self.root / "group_vars" / f"{group}.yml", text)
        return self

    def host_vars(self, host: str, text: str) -> InventoryDir:
        write(self.root / "host_vars" / f"{host}.yml", text)
        return self

    def compile(self, **kwargs) -> Plan:
        return compile_inventory(str(self.root), **kwargs)

    def problems(self, **kwargs) -> list[str]:
        """Every problem message of an inventory that must be invalid."""
        with pytest.raises(ValidationError) as caught:
            self.compile(**kwargs)
        return [str(problem) for problem in caught.value.problems]


@pytest.fixture
def inventory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., InventoryDir]:
    """Factory: `inventory(all_vars)` makes a fresh inventory directory with group_vars/all.yml."""
    monkeypatch.chdir(tmp_path)  # problem sources are shown relative to the working directory
    count = 0

    def make(all_vars: str = "", base: bool = True) -> InventoryDir:
        nonlocal count
        count += 1
        root = tmp_path / f"inventory-{os.getpid()}-{count}"
        root.mkdir()
        inv = InventoryDir(root)
        inv.group_vars("all", (BASE_ALL if base else "") + textwrap.dedent(all_vars))
        return inv

    return make


def mesh_hosts(group: str, *names: str, **host_vars: str) -> str:
    """hosts.yml text: one inventory group with hosts at 192.0.2.<n>; host_vars adds inline YAML per host."""
    lines = ["all:", "  children:", f"    {group}:", "      hosts:"]
    for index, name in enumerate(names, start=1):
        extra = f", {host_vars[name.replace('-', '_')]}" if name.replace("-", "_") in host_vars else ""
        lines.append(f"        {name}: {{ansible_host: 192.0.2.{index}{extra}}}")
    return "\n".join(lines) + "\n"


# The base inventory of the bad-input review (/work/shared/reviews/bad-input.md): each case changes one thing.
REVIEW_HOSTS = (
    "all: {children: {voip: {hosts: {a1: {ansible_host: 127.0.0.1}, a2: {ansible_host: 127.0.0.2}, "
    "a3: {ansible_host: 127.0.0.3}}}}}\n"
)
REVIEW_GROUP_VARS = """\
syntraf_mesh_groups: {voip: {packet_size: 172, packets_per_second: 50, dscp: ef, interval: 1}}
syntraf_influxdb: [{url: "http://127.0.0.1:9", org: noc, bucket: syntraf, token: tok}]
syntraf_iperf3_version: "3.12"
"""


def review_inventory(root: Path, hosts: str = REVIEW_HOSTS, group_vars: str = REVIEW_GROUP_VARS) -> Path:
    """The review's base inventory at `root` (hosts.yml, group_vars/all/main.yml); its iperf3 version is
    set so that no command needs to run the preflight playbook."""
    write(root / "hosts.yml", hosts)
    write(root / "group_vars" / "all" / "main.yml", group_vars)
    return root


def snapshot(root: Path) -> dict[str, tuple[str, object]]:
    """Every entry under `root` (itself included): relative path -> (kind, content/target, mode), so that
    "nothing was written" can be asserted byte for byte."""
    entries: dict[str, tuple[str, object]] = {}
    for directory, dirnames, filenames in os.walk(root):
        for name in [".", *dirnames, *filenames]:
            path = Path(directory) / name
            relative = str(path.relative_to(root))
            if path.is_symlink():
                entries[relative] = ("link", os.readlink(path), 0)
            elif path.is_dir():
                entries[relative] = ("dir", None, path.stat().st_mode)
            else:
                entries[relative] = ("file", path.read_bytes(), path.stat().st_mode)
    return entries


def refused(argv: list[str], root: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """Run the CLI; assert that it exits 2 and that nothing under `root` changed; return its stderr."""
    before = snapshot(root)
    assert main(argv) == 2
    assert snapshot(root) == before
    return capsys.readouterr().err


class ReviewCase:
    """The review's base inventory in `root`, changed by the case, run through the real CLI."""

    def __init__(self, root: Path, capsys: pytest.CaptureFixture) -> None:
        self.root, self.capsys = root, capsys
        review_inventory(root)

    def file(self, relative: str, text: str) -> ReviewCase:
        write(self.root / relative, text)
        return self

    def group(self, settings: str) -> ReviewCase:
        """Replace the voip mesh group's settings (a YAML flow mapping)."""
        text = REVIEW_GROUP_VARS.replace(
            "{packet_size: 172, packets_per_second: 50, dscp: ef, interval: 1}", settings
        )
        return self.file("group_vars/all/main.yml", text)

    def run(self, *args: str) -> tuple[int, str, str]:
        """(exit status, stdout, stderr) of `syntraf-ctl COMMAND -i ROOT ARGS`."""
        from syntraf_ctl.cli import main

        self.capsys.readouterr()
        code = main([args[0], "-i", str(self.root), *args[1:]])
        out, err = self.capsys.readouterr()
        return code, out, err


@pytest.fixture
def review(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> ReviewCase:
    monkeypatch.chdir(tmp_path)
    return ReviewCase(tmp_path / "inv", capsys)


# Vault-encrypted test values: the password, and a password file holding it.
PASSWORD = "correct horse battery staple"


def encrypt(plaintext: str, password: str = PASSWORD) -> str:
    """Encrypt as `ansible-vault encrypt` does (real Ansible vault, AES256)."""
    return VaultLib([("default", VaultSecret(password.encode()))]).encrypt(plaintext).decode()


@pytest.fixture
def password_file(tmp_path):
    """A vault password file outside the inventory directory (Ansible would try to parse it otherwise)."""
    path = tmp_path / f"vault-pass-{os.getpid()}"
    path.write_text(PASSWORD + "\n")
    return str(path)
