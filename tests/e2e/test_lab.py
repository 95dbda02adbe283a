"""The lab itself, for real: hosts boot systemd, SSH and Ansible reach them with the lab's key, the
database answers from inside a host, reboots keep a host's files, partitions cut and heal, and `down`
leaves nothing."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from syntraf_ctl.lab import processes
from syntraf_ctl.lab.cgroups import lab_cgroups
from syntraf_ctl.lab.errors import LabError
from syntraf_ctl.lab.lifecycle import lab_down
from syntraf_ctl.lab.mounts import mounts_under
from syntraf_ctl.lab.network import ip
from syntraf_ctl.lab.state import network_prefix, state_dir
from syntraf_ctl.lab.tsdb import export
from tests.support.lab_control import Lab
from tests.support.testlabs import owned_lab_name

pytestmark = pytest.mark.lab


def can_connect(lab: Lab, source: str, address: str, port: int = 22) -> bool:
    """Whether host `source` opens a TCP connection to `address` (run inside `source`, not over SSH)."""
    code = f"import socket; socket.create_connection(({address!r}, {port}), timeout=1).close()"
    return lab.exec(source, ["python3", "-c", code], check=False).returncode == 0


def test_every_host_boots_systemd_to_running(lab: Lab) -> None:
    assert lab.host_names == ["lab1", "lab2", "lab3"]
    assert lab.failed_units == {}
    for name in lab.host_names:
        assert lab.exec(name, ["systemctl", "is-system-running"], check=False).stdout.strip() == "running"
        assert lab.exec(name, ["hostname"]).stdout.strip() == name
        assert lab.exec(name, ["readlink", "/proc/1/exe"]).stdout.strip().endswith("/systemd")


def test_hosts_do_not_share_units(lab: Lab) -> None:
    """Each host has its own cgroup tree: stopping a unit on one host leaves the same unit elsewhere alone."""
    try:
        for name in ("lab1", "lab2"):
            lab.exec(name, ["systemd-run", "--unit=syntraf-lab-check", "sleep", "600"])
        lab.exec("lab1", ["systemctl", "stop", "syntraf-lab-check"])
        assert (
            lab.exec("lab2", ["systemctl", "is-active", "syntraf-lab-check"], check=False).stdout.strip()
            == "active"
        )
        assert lab.exec("lab2", ["pgrep", "-x", "sleep"], check=False).stdout.strip() != ""
    finally:
        for name in ("lab1", "lab2"):
            lab.exec(name, ["systemctl", "stop", "syntraf-lab-check"], check=False)


def test_ssh_with_the_lab_key_only(lab: Lab, tmp_path: Path) -> None:
    for name, address in lab.addresses.items():
        result = lab.ssh(name, "hostname; id -u; ip -4 -o addr show dev eth0")
        hostname, uid, addresses = result.stdout.splitlines()
        assert (hostname, uid) == (name, "0")
        assert f" {address}/" in addresses
    other_key = tmp_path / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other_key)], check=True)
    refused = subprocess.run(
        ["ssh", "-i", str(other_key), "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
         "-o", "UserKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=no",
         f"root@{lab.addresses['lab1']}", "true"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert refused.returncode == 255 and "Permission denied" in refused.stderr


def test_ansible_ping_over_the_generated_inventory(lab: Lab) -> None:
    ansible = Path(sys.executable).with_name("ansible")
    result = subprocess.run(
        [str(ansible), "-i", str(lab.inventory), "all", "-m", "ansible.builtin.ping"],
        capture_output=True, text=True, timeout=120, env={**os.environ, "ANSIBLE_NOCOLOR": "1"},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    for name in lab.host_names:
        assert f"{name} | SUCCESS" in result.stdout
    assert result.stdout.count('"ping": "pong"') == len(lab.host_names)


def test_inventory_describes_the_lab(lab: Lab) -> None:
    hosts = yaml.safe_load((lab.inventory / "hosts.yml").read_text())["all"]
    assert {name: vars["ansible_host"] for name, vars in hosts["hosts"].items()} == lab.addresses
    for group in ("voip", "bulk"):
        assert list(hosts["children"][group]["hosts"]) == lab.host_names
    settings = yaml.safe_load((lab.inventory / "group_vars/all/main.yml").read_text())
    assert settings["syntraf_influxdb"][0]["url"] == lab.db_url
    vault = lab.inventory / "group_vars/all/vault.yml"
    assert vault.stat().st_mode & 0o077 == 0  # the token file is the owner's only
    assert len(yaml.safe_load(vault.read_text())["vault_influxdb_token"]) >= 32


def test_database_answers_from_inside_a_host(lab: Lab) -> None:
    started = time.time()
    write = (
        "import urllib.request\n"
        f"url = {lab.db_url!r} + '/api/v2/write?org=lab&bucket=syntraf&precision=s'\n"
        "request = urllib.request.Request(url, data=b'syntraf_labcheck,src=lab2 value=1', method='POST')\n"
        "print(urllib.request.urlopen(request, timeout=5).status)\n"
    )
    assert lab.ssh("lab2", "python3 -", input=write).stdout.strip() == "204"
    deadline = time.monotonic() + 10
    series = []
    while not series and time.monotonic() < deadline:  # the database makes new points searchable within ~1 s
        time.sleep(0.5)
        series = export(lab.db_url, '{__name__="syntraf_labcheck_value"}', start=started - 5)
    assert [(s.labels, [v for _, v in s.points]) for s in series] == [({"src": "lab2"}, [1.0])]


def test_reboot_keeps_the_hosts_files(lab: Lab) -> None:
    lab.ssh("lab3", "echo kept > /root/reboot-marker")
    boot_id = lab.exec("lab3", ["cat", "/proc/sys/kernel/random/boot_id"]).stdout
    assert lab.reboot("lab3") == []
    assert lab.exec("lab3", ["cat", "/proc/sys/kernel/random/boot_id"]).stdout != boot_id
    assert lab.ssh("lab3", "cat /root/reboot-marker; systemctl is-system-running").stdout.split() == [
        "kept",
        "running",
    ]


def test_partition_cuts_both_directions_then_heals(lab: Lab) -> None:
    try:
        lab.partition("lab1", "lab2")
        assert not can_connect(lab, "lab1", lab.addresses["lab2"])
        assert not can_connect(lab, "lab2", lab.addresses["lab1"])
        assert can_connect(lab, "lab1", lab.addresses["lab3"]) and can_connect(
            lab, "lab3", lab.addresses["lab2"]
        )
        lab.heal("lab1", "lab2")
        assert can_connect(lab, "lab1", lab.addresses["lab2"]) and can_connect(
            lab, "lab2", lab.addresses["lab1"]
        )
    finally:
        lab.heal()


def test_add_a_host_change_its_groups_and_remove_it(lab: Lab) -> None:
    """The session lab gets a 4th host in the inventory's mesh groups, then loses it again."""
    lock = lab.inventory / ".syntraf.lock.json"  # what `apply` keeps next to hosts.yml: the lab keeps it
    lock.write_text("{}")
    try:
        _add_change_and_remove_a_host(lab, lock)
    finally:
        lock.unlink(missing_ok=True)  # the session lab is shared: a later apply must not read it


def _add_change_and_remove_a_host(lab: Lab, lock: Path) -> None:
    name = lab.add_host()
    try:
        assert name == "lab4" and lab.failed_units[name] == []
        address = lab.addresses[name]
        assert lab.ssh(name, "hostname").stdout.strip() == name and can_connect(lab, "lab1", address)
        groups = yaml.safe_load((lab.inventory / "hosts.yml").read_text())["all"]["children"]
        assert {group: list(members["hosts"]) for group, members in groups.items()} == {
            "voip": ["lab1", "lab2", "lab3", "lab4"],
            "bulk": ["lab1", "lab2", "lab3", "lab4"],
        }
        lab.set_groups(name, ["voip"])
        inventory = yaml.safe_load((lab.inventory / "hosts.yml").read_text())["all"]
        assert name in inventory["hosts"] and name in inventory["children"]["voip"]["hosts"]
        assert name not in inventory["children"]["bulk"]["hosts"]
    finally:
        lab.remove_host(name)
    inventory = yaml.safe_load((lab.inventory / "hosts.yml").read_text())["all"]
    assert list(inventory["hosts"]) == lab.host_names == ["lab1", "lab2", "lab3"]
    assert lock.read_text() == "{}"
    assert not can_connect(lab, "lab1", address)
    assert lab.state.hosts[-1].netns != f"{network_prefix(lab.name)}n4"
    assert f"{network_prefix(lab.name)}n4" not in ip("netns", "list").stdout.split()
    assert lab_cgroups(f"{lab.name}-lab4") == [] and not Path(lab.state.state_dir, "hosts", name).exists()


def assert_nothing_left(name: str, inventory: Path) -> None:
    """No process, mount, cgroup, namespace, bridge, state or inventory of lab `name` remains."""
    directory = state_dir(name)
    assert not [pid for pid in processes.pids_naming(directory) if processes.alive(pid)]
    assert not [pid for pid in processes.pids_rooted_in(directory) if processes.alive(pid)]
    assert mounts_under(directory) == [] and lab_cgroups(f"{name}-lab*") == []
    assert not directory.exists() and not inventory.exists()
    assert ip("link", "show", f"{network_prefix(name)}br", check=False).returncode != 0
    assert not [ns for ns in ip("netns", "list").stdout.split() if ns.startswith(network_prefix(name))]


def test_up_over_leftovers_then_down_leaves_nothing(bring_up, tmp_path: Path) -> None:
    name = owned_lab_name("d")
    inventory = tmp_path / "inventory"
    directory = state_dir(name)
    try:
        bring_up(name, 1, inventory)
        bring_up(name, 1, inventory)  # the first one is now a "killed run's" leftovers
        assert processes.pids_naming(directory) and mounts_under(directory) and inventory.is_dir()
        assert lab_cgroups(f"{name}-lab*")
        assert lab_down(name) is True
        assert_nothing_left(name, inventory)
        assert lab_down(name) is False  # idempotent
    finally:
        lab_down(name, quiet=True)


def test_failed_up_removes_what_it_created(bring_up, tmp_path: Path) -> None:
    name = owned_lab_name("f")
    inventory = tmp_path / "inventory"
    with socket.socket() as taken:  # a real fault: the database's port is taken on every address
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        try:
            with pytest.raises(LabError, match="VictoriaMetrics .* exited"):
                bring_up(name, 2, inventory, db_port=taken.getsockname()[1])
            assert_nothing_left(name, inventory)
        finally:
            lab_down(name, quiet=True)
