"""Inventory loading through Ansible: INI, templating, vault-encrypted values and files."""

from __future__ import annotations

import json
import os
import textwrap

from syntraf_ctl.render import render_plan

from .conftest import encrypt, mesh_hosts
from .test_validation import has

TOKEN = "influx-token-that-must-never-leak"


def vaulted_inventory(inventory):
    block = textwrap.indent(encrypt(TOKEN), "      ")
    inv = inventory("syntraf_mesh_groups:\n  voip: {}\n", base=False).hosts(mesh_hosts("voip", "a", "b"))
    inv.group_vars("voip", f"vault_token: !vault |\n{block}\n")
    inv.group_vars(
        "all",
        "syntraf_mesh_groups:\n  voip: {}\n"
        "syntraf_influxdb:\n"
        '  - {url: "http://db:8086", org: noc, bucket: syntraf, token: "{{ vault_token }}"}\n',
    )
    return inv


def test_vault_encrypted_value_with_a_password_file(inventory, password_file):
    plan = vaulted_inventory(inventory).compile(vault_password_file=password_file)
    assert len(plan.edges) == 2
    rendered = render_plan(plan)
    assert all(TOKEN not in content for content in rendered.files.values())
    assert TOKEN not in json.dumps(plan.to_json())
    assert TOKEN not in repr(plan.model)
    config = json.loads(rendered.files["a/etc/syntraf/voip.json"])
    assert config["databases"][0]["token_path"] == "/etc/syntraf/secrets/influxdb-0.token"


def test_vault_encrypted_value_without_or_with_a_wrong_password(inventory, tmp_path):
    inv = vaulted_inventory(inventory)
    for problems in (inv.problems(), inv.problems(vault_password_file=_wrong_password(tmp_path))):
        line = has(problems, "group_vars/all.yml", "host a", "syntraf_influxdb", "vault")
        assert TOKEN not in line


def _wrong_password(tmp_path) -> str:
    path = tmp_path / f"wrong-pass-{os.getpid()}"
    path.write_text("not the password\n")
    return str(path)


def test_vault_encrypted_vars_file(inventory, password_file):
    inv = inventory("syntraf_mesh_groups:\n  voip: {}\n").hosts(mesh_hosts("voip", "a", "b"))
    (inv.root / "host_vars").mkdir()
    (inv.root / "host_vars" / "a.yml").write_text(encrypt("syntraf_address: 198.51.100.7\n"))
    plan = inv.compile(vault_password_file=password_file)
    assert plan.model.hosts["a"].address == "198.51.100.7"


def test_missing_vault_password_file(inventory, tmp_path):
    inv = inventory("syntraf_mesh_groups:\n  voip: {}\n").hosts(mesh_hosts("voip", "a", "b"))
    has(inv.problems(vault_password_file=str(tmp_path / "nope")), "inventory", "vault password file")


def test_templated_values_are_resolved_per_host(inventory):
    inv = inventory("""\
        site_range: {mtl: 15000-15099, tor: 16000-16099}
        syntraf_listen_port_range: "{{ site_range[site] }}"
        syntraf_mesh_groups:
          voip: {bandwidth: "{{ voice_rate }}", packet_size: 172}
        voice_rate: 68.8k
        """).hosts(mesh_hosts("voip", "a", "b", a="site: mtl", b="site: tor"))
    plan = inv.compile(lock=False)
    assert plan.model.hosts["a"].port_range == (15000, 15099)
    assert plan.model.hosts["b"].port_range == (16000, 16099)
    assert plan.model.groups["voip"].traffic.bandwidth_bps == 68_800


def test_templates_see_magic_variables(inventory):
    inv = inventory("""\
        syntraf_mesh_groups:
          voip: {}
        syntraf_address: "{{ inventory_hostname }}.probes.example.net"
        """).hosts("all:\n  children:\n    voip:\n      hosts:\n        a:\n        b:\n")
    plan = inv.compile(lock=False)
    assert plan.model.hosts["b"].address == "b.probes.example.net"


def test_ini_inventory(inventory):
    inv = inventory("syntraf_mesh_groups:\n  voip: {}\n  lab: {members: 'voip:&dc'}\n").hosts(
        """\
        [voip]
        a ansible_host=192.0.2.1 syntraf_behind_nat=true
        b ansible_host=192.0.2.2
        c ansible_host=192.0.2.3 syntraf_max_bandwidth=1m

        [dc]
        b
        c

        [all:vars]
        syntraf_listen_port_range=15000-15010
        """,
        name="hosts.ini",
    )
    plan = inv.compile(lock=False)
    assert plan.model.hosts["a"].behind_nat is True
    assert plan.model.hosts["c"].max_bandwidth_bps == 1_000_000
    assert plan.model.hosts["b"].port_range == (15000, 15010)
    assert {(e.src, e.dst) for e in plan.edges if e.group == "lab"} == {("b", "c"), ("c", "b")}


def test_ini_inventory_problems_name_the_ini_file(inventory):
    inv = inventory("syntraf_mesh_groups:\n  voip: {}\n").hosts(
        "[voip]\na ansible_host=192.0.2.1 syntraf_max_bandwidth=lots\nb ansible_host=192.0.2.2\n",
        name="hosts.ini",
    )
    has(inv.problems(), "hosts.ini", "host a", "syntraf_max_bandwidth")


def test_inventory_file_rather_than_directory(inventory):
    inv = inventory("syntraf_mesh_groups:\n  voip: {}\n").hosts(mesh_hosts("voip", "a", "b"))
    from syntraf_ctl.compile import compile_inventory

    plan = compile_inventory(str(inv.root / "hosts.yml"))
    assert len(plan.edges) == 2
    assert plan.lock_path == str(inv.root / ".syntraf.lock.json")


def test_unparsable_inventory_file_is_a_problem(inventory):
    inv = inventory("syntraf_mesh_groups:\n  voip: {}\n").hosts(mesh_hosts("voip", "a", "b"))
    (inv.root / "extra.yml").write_text("all: [unclosed\n")
    has(inv.problems(), "inventory", "extra.yml")
