"""The lab's pure parts (plan, inventory, image recipe, requirements) and its refusal to run without root."""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import urllib.parse
from pathlib import Path

import pytest
import yaml

from syntraf_ctl.lab.errors import LabError
from syntraf_ctl.lab.lab_inventory import MARKER, remove_inventory, render_inventory, write_inventory
from syntraf_ctl.lab.lifecycle import LabConfig, host_suites
from syntraf_ctl.lab.preflight import missing_tools
from syntraf_ctl.lab.rootfs import apt_mirror, recipe_hash, rootfs_path
from syntraf_ctl.lab.state import plan_lab
from syntraf_ctl.lab.wan.topology import SITES_NETWORK, router_uplink_address
from tests.support.testlabs import CANDIDATE_SUBNETS


def plan(nodes: int = 3, subnet: str = "198.51.100.0/24", name: str = "lab") -> object:
    return plan_lab(name, nodes, subnet, ["bookworm"] * nodes, 8428, Path("/inv"), Path("/state"))


def test_plan_addresses_and_names() -> None:
    state = plan()
    assert state.bridge_address == "198.51.100.1"
    assert state.db_url == "http://198.51.100.1:8428"
    assert [(h.name, h.address, h.netns, h.machine) for h in state.hosts] == [
        ("lab1", "198.51.100.11", "sllab-n1", "lab-lab1"),
        ("lab2", "198.51.100.12", "sllab-n2", "lab-lab2"),
        ("lab3", "198.51.100.13", "sllab-n3", "lab-lab3"),
    ]
    assert state.hosts[0].root == Path("/state/lab/hosts/lab1/root")
    assert state.ssh_key == Path("/state/lab/ssh/id_ed25519")


def test_plan_on_another_subnet() -> None:
    state = plan(2, "203.0.113.32/27", name="t1234567")
    assert state.bridge_address == "203.0.113.33"
    assert [h.address for h in state.hosts] == ["203.0.113.43", "203.0.113.44"]
    assert max(len(f"{state.network_prefix}v{len(state.hosts)}"), len(f"{state.network_prefix}br")) <= 15


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "Lab"}, "lab name 'Lab'"),
        ({"name": "averylongname"}, "1 to 8 characters"),
        ({"nodes": 0}, "--nodes 0"),
        ({"subnet": "198.51.100.0/33"}, "--subnet 198.51.100.0/33: not an IPv4 network"),
        ({"subnet": "198.51.100.0/28", "nodes": 5}, "subnet 198.51.100.0/28 has no address for host lab5"),
    ],
)
def test_plan_rejects_bad_settings(kwargs: dict, message: str) -> None:
    with pytest.raises(LabError, match=message.replace("(", r"\(").replace(".", r"\.")):
        plan(**kwargs)


def test_suites_one_for_all_or_one_per_host() -> None:
    assert host_suites(LabConfig(nodes=2, suites=("trixie",))) == ["trixie", "trixie"]
    assert host_suites(LabConfig(nodes=2, suites=("bookworm", "trixie"))) == ["bookworm", "trixie"]
    with pytest.raises(LabError, match="one per host"):
        host_suites(LabConfig(nodes=3, suites=("bookworm", "trixie")))


def test_inventory_content() -> None:
    files = render_inventory(plan(), "s3cret-token")
    hosts = yaml.safe_load(files["hosts.yml"])["all"]
    assert hosts["hosts"]["lab2"] == {"ansible_host": "198.51.100.12"}
    assert hosts["vars"]["ansible_user"] == "root"
    assert hosts["vars"]["ansible_ssh_private_key_file"] == "/state/lab/ssh/id_ed25519"
    assert "StrictHostKeyChecking=no" in hosts["vars"]["ansible_ssh_common_args"]
    assert hosts["vars"]["ansible_python_interpreter"] == "/usr/bin/python3"
    assert {group: list(v["hosts"]) for group, v in hosts["children"].items()} == {
        "voip": ["lab1", "lab2", "lab3"],
        "bulk": ["lab1", "lab2", "lab3"],
    }
    main = yaml.safe_load(files["group_vars/all/main.yml"])
    assert main["syntraf_influxdb"] == [
        {
            "url": "http://198.51.100.1:8428",
            "org": "lab",
            "bucket": "syntraf",
            "token": "{{ vault_influxdb_token }}",
        }
    ]
    assert set(main["syntraf_mesh_groups"]) == {"voip", "bulk"}
    assert main["syntraf_mesh_groups"]["voip"]["profile"] in main["syntraf_iperf3_profiles"]
    assert yaml.safe_load(files["group_vars/all/vault.yml"]) == {"vault_influxdb_token": "s3cret-token"}
    assert ["s3cret-token" in text for text in files.values()].count(True) == 1


def test_inventory_written_private_replaced_and_removed(tmp_path: Path) -> None:
    directory = tmp_path / "inventories" / "lab"
    write_inventory(directory, render_inventory(plan(), "first"))
    write_inventory(directory, render_inventory(plan(2), "second"))
    assert sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file()) == [
        MARKER,
        "group_vars/all/main.yml",
        "group_vars/all/vault.yml",
        "hosts.yml",
    ]
    assert "second" in (directory / "group_vars/all/vault.yml").read_text()
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in directory.rglob("*") if p.is_file())
    assert sorted(p.name for p in directory.parent.iterdir()) == ["lab"]  # no staging leftovers
    remove_inventory(directory)
    assert not directory.exists()


def test_inventory_never_overwrites_a_directory_it_did_not_write(tmp_path: Path) -> None:
    (tmp_path / "hosts.yml").write_text("all: {}\n")
    for action in (lambda: write_inventory(tmp_path, {"hosts.yml": ""}), lambda: remove_inventory(tmp_path)):
        with pytest.raises(LabError, match="was not written by the lab"):
            action()
    assert (tmp_path / "hosts.yml").read_text() == "all: {}\n"


def test_apt_mirror_from_deb822_and_one_line_sources(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    assert apt_mirror(tmp_path) == "http://deb.debian.org/debian"
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n\n"
        "Types: deb\nURIs: http://mirror.example/debian/\nSuites: bookworm\n"
    )
    assert apt_mirror(tmp_path) == "http://mirror.example/debian"
    (tmp_path / "sources.list").write_text("deb [arch=amd64] http://other.example/debian bookworm main\n")
    assert apt_mirror(tmp_path) == "http://other.example/debian"


def _addresses_this_machine_needs() -> set[str]:
    """Where the package registries and the nameservers are, as this machine resolves them."""
    names = ["pypi.org", "files.pythonhosted.org", urllib.parse.urlsplit(apt_mirror()).hostname or ""]
    found = set()
    for name in names:
        try:
            found |= {info[4][0] for info in socket.getaddrinfo(name, 443, socket.AF_INET)}
        except OSError:
            continue  # not resolvable here: nothing a lab could shadow
    resolv = Path("/etc/resolv.conf").read_text() if Path("/etc/resolv.conf").exists() else ""
    return found | {line.split()[1] for line in resolv.splitlines() if line.startswith("nameserver ")}


def test_test_lab_subnets_never_shadow_the_registries_or_a_wan_lab() -> None:
    """A test lab's bridge on 203.0.113.64/27 once routed this machine's PyPI and Debian proxy
    (203.0.113.80) into the lab: every pip and apt run failed until the lab went down."""
    needed = [ipaddress.ip_address(a) for a in _addresses_this_machine_needs()]
    for subnet in map(ipaddress.ip_network, CANDIDATE_SUBNETS):
        assert not [a for a in needed if a in subnet], subnet
        # a WAN lab's site LANs and uplinks (198.19.i.0/30, i >= 1) are routed inside SITES_NETWORK;
        # a test lab's bridge there is reached as a more specific, connected route, never through a router
        assert subnet.subnet_of(ipaddress.ip_network(SITES_NETWORK)), subnet
        assert not subnet.overlaps(ipaddress.ip_network("198.18.0.0/16")), subnet  # the site LANs
        assert not subnet.overlaps(ipaddress.ip_network(f"{router_uplink_address(1)}/24", strict=False)), (
            subnet
        )


def test_image_cache_key_follows_suite_and_recipe() -> None:
    assert recipe_hash("bookworm") != recipe_hash("trixie")
    assert rootfs_path("bookworm", Path("/c")) == Path(f"/c/rootfs-bookworm-{recipe_hash('bookworm')}")


def test_missing_tools_name_their_package() -> None:
    assert missing_tools({"ip": "iproute2", "no-such-tool-syntraf": "pkg-x"}) == {
        "no-such-tool-syntraf": "pkg-x"
    }


def test_lab_command_without_root_exits_2_with_the_reason() -> None:
    command = [str(Path(sys.executable).with_name("syntraf-ctl")), "lab", "up"]
    with tempfile.TemporaryDirectory(prefix=f"syntraf-lab-{os.getpid()}-") as home:
        if os.geteuid() == 0:  # drop to nobody to see what a user without root sees
            if shutil.which("setpriv") is None:
                pytest.skip("setpriv (util-linux) is needed to run the command as a user without root")
            os.chmod(home, 0o777)  # the user's own home (ansible, imported by other commands, writes there)
            command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]
        environment = {**os.environ, "HOME": home}
        result = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd="/", env=environment)
    assert result.returncode == 2, result.stderr
    assert "needs root" in result.stderr or "needs Linux" in result.stderr
