"""Every validation rule: a bad inventory per rule; the message names the file, host or group, and key."""

from __future__ import annotations

import json
import sys

import pytest

from .conftest import mesh_hosts

GROUP = "syntraf_mesh_groups:\n  voip: {}\n"


def has(problems: list[str], *fragments: str) -> str:
    """The one problem containing every fragment (fails with all problems shown otherwise)."""
    matches = [p for p in problems if all(f in p for f in fragments)]
    assert len(matches) == 1, f"no single problem with {fragments} in:\n" + "\n".join(problems)
    return matches[0]


def test_valid_inventory_compiles(inventory):
    plan = inventory(GROUP).hosts(mesh_hosts("voip", "a", "b")).compile(lock=False)
    assert len(plan.edges) == 2


def test_all_problems_are_reported_at_once(inventory):
    inv = inventory("""\
        syntraf_mesh_groups:
          voip: {dscp: 99, intervall: 1}
        """).hosts(mesh_hosts("voip", "a", "b", a="syntraf_listen_port_range: 16000-15000"))
    inv.host_vars("b", "syntraf_log_level: loud\n")
    problems = inv.problems()
    has(problems, "group_vars/all.yml:5", "mesh group voip", "syntraf_mesh_groups.voip.dscp", "0-63")
    has(problems, "mesh group voip", "syntraf_mesh_groups.voip.intervall", "unknown setting")
    has(problems, "hosts.yml:5", "host a", "syntraf_listen_port_range", "first port")
    has(problems, "host_vars/b.yml:1", "host b", "syntraf_log_level", "loud")
    assert len(problems) == 4


def test_missing_mesh_groups(inventory):
    problems = inventory().hosts(mesh_hosts("voip", "a", "b")).problems()
    has(problems, "inventory", "syntraf_mesh_groups", "at least one mesh group")


@pytest.mark.parametrize(
    ("groups", "fragments"),
    [
        ("  'bad name': {}\n", ("mesh group bad name", "1-50 letters")),
        ("  voip: [1, 2]\n", ("mesh group voip", "expected a mapping")),
        ("  voip: {profil: g711}\n", ("syntraf_mesh_groups.voip.profil", "unknown setting")),
        ("  voip: {profile: g729}\n", ("syntraf_mesh_groups.voip.profile", "unknown profile 'g729'")),
        ("  voip: {bandwidth: 10kb}\n", ("syntraf_mesh_groups.voip.bandwidth", "100k")),
        ("  voip: {interval: 0.05}\n", ("syntraf_mesh_groups.voip.interval", "0.1-60 s")),
        (
            "  voip: {packet_size: 70000, bandwidth: 1m}\n",
            ("syntraf_mesh_groups.voip.packet_size", "16-65507"),
        ),
        ("  voip: {dscp: af44}\n", ("syntraf_mesh_groups.voip.dscp", "af11..af43")),
        ("  voip: {disabled: maybe}\n", ("syntraf_mesh_groups.voip.disabled", "true or false")),
        ("  voip: {packets_per_second: 0, packet_size: 100}\n", ("packets_per_second", "0.001-10000000")),
        ("  voip: {bandwidth: 1m}\n", ("mesh group voip", "exactly two", "got bandwidth")),
        (
            "  voip: {bandwidth: 1m, packet_size: 100, packets_per_second: 10}\n",
            ("mesh group voip", "exactly two", "got bandwidth, packet_size, packets_per_second"),
        ),
        ("  voip: {bandwidth: 1k, packets_per_second: 100}\n", ("voip", "derived packet_size 1 is outside")),
        ("  voip: {members: 42}\n", ("syntraf_mesh_groups.voip.members", "host pattern")),
        ("  voip: {}\n  ghost: {}\n", ("mesh group ghost", "no inventory group named 'ghost'")),
    ],
)
def test_mesh_group_rules(inventory, groups, fragments):
    problems = inventory("syntraf_mesh_groups:\n" + groups).hosts(mesh_hosts("voip", "a", "b")).problems()
    line = has(problems, *fragments)
    assert "group_vars/all.yml:" in line


def test_two_of_three_with_a_profile_names_the_profile(inventory):
    inv = inventory("""\
        syntraf_iperf3_profiles:
          g711: {packet_size: 172, packets_per_second: 50}
        syntraf_mesh_groups:
          voip: {profile: g711, bandwidth: 1m}
        """).hosts(mesh_hosts("voip", "a", "b"))
    has(inv.problems(), "mesh group voip", "with profile g711", "exactly two", "null")


@pytest.mark.parametrize(
    ("profiles", "fragments"),
    [
        ("  g711: {size: 172}\n", ("profile g711", "syntraf_iperf3_profiles.g711.size", "unknown setting")),
        ("  g711: {dscp: 77}\n", ("profile g711", "syntraf_iperf3_profiles.g711.dscp", "0-63")),
        ("  'g 711': {}\n", ("profile g 711", "1-50 letters")),
        ("  g711: 5\n", ("profile g711", "expected a mapping")),
    ],
)
def test_profile_rules(inventory, profiles, fragments):
    problems = (
        inventory(GROUP + "syntraf_iperf3_profiles:\n" + profiles)
        .hosts(mesh_hosts("voip", "a", "b"))
        .problems()
    )
    has(problems, "group_vars/all.yml:", *fragments)


def test_mesh_groups_must_not_be_redefined_per_group(inventory):
    inv = inventory(GROUP).hosts(mesh_hosts("voip", "a", "b"))
    inv.group_vars("voip", "syntraf_mesh_groups:\n  voip: {dscp: 46}\n")
    problems = inv.problems()
    has(problems, "group_vars/voip.yml:2", "host a", "syntraf_mesh_groups", "defined once for all hosts")


@pytest.mark.parametrize(
    ("host_vars", "fragments"),
    [
        ("syntraf_uid: 'a b'\n", ("syntraf_uid", "'a b'")),
        ("syntraf_address: 'not an address'\n", ("syntraf_address", "IP address or a DNS name")),
        ("syntraf_listen_port_range: 16000-15000\n", ("syntraf_listen_port_range", "first port")),
        ("syntraf_listen_port_range: 15000-70000\n", ("syntraf_listen_port_range", "1-65535")),
        ("syntraf_behind_nat: sometimes\n", ("syntraf_behind_nat", "true or false")),
        ("syntraf_include_only: [b]\n", ("syntraf_include_only", "mesh group -> list")),
        ("syntraf_include_only: {voip: b}\n", ("syntraf_include_only.voip", "list of host uids")),
        (
            "syntraf_include_only: {lab: [b]}\n",
            ("syntraf_include_only.lab", "not a member of a mesh group named 'lab'"),
        ),
        (
            "syntraf_include_only: {voip: [zz]}\n",
            ("syntraf_include_only.voip", "'zz' is not a member of mesh group"),
        ),
        ("syntraf_exclude: {voip: [a]}\n", ("syntraf_exclude.voip", "lists itself")),
        ("syntraf_exclude: {voip: [c, zz]}\n", ("syntraf_exclude.voip", "'zz' is not a member")),
        ("syntraf_override_dst: {zz: 10.0.0.1}\n", ("syntraf_override_dst.zz", "not the uid of a host")),
        (
            "syntraf_override_dst: {b: 'bad address'}\n",
            ("syntraf_override_dst.b", "IP address or a DNS name"),
        ),
        ("syntraf_max_bandwidth: lots\n", ("syntraf_max_bandwidth", "bit/s")),
        ("syntraf_iperf3_binary: iperf3\n", ("syntraf_iperf3_binary", "absolute path")),
        ("syntraf_test_duration: 0\n", ("syntraf_test_duration", "1-86400 s")),
        ("syntraf_test_duration: 15\n", ("syntraf_test_duration", "shorter than two intervals")),
        ("syntraf_spool_max_bytes: 10\n", ("syntraf_spool_max_bytes", "1048576-1099511627776 bytes")),
        ("syntraf_log_level: verbose\n", ("syntraf_log_level", "debug, info, warning, error")),
        ("syntraf_influxdb: {url: x}\n", ("syntraf_influxdb", "list of databases")),
        ("syntraf_influxdb: [5]\n", ("syntraf_influxdb[0]", "expected a mapping")),
        ("syntraf_influxdb: [{org: o, bucket: b, token: t}]\n", ("syntraf_influxdb[0].url", "required")),
        (
            "syntraf_influxdb: [{url: 'ftp://x', org: o, bucket: b, token: t}]\n",
            ("syntraf_influxdb[0].url", "http"),
        ),
        (
            "syntraf_influxdb: [{url: 'http://x', bucket: b, token: t}]\n",
            ("syntraf_influxdb[0].org", "required"),
        ),
        (
            "syntraf_influxdb: [{url: 'http://x', org: o, token: t}]\n",
            ("syntraf_influxdb[0].bucket", "required"),
        ),
        (
            "syntraf_influxdb: [{url: 'http://x', org: o, bucket: b}]\n",
            ("syntraf_influxdb[0].token", "required"),
        ),
        (
            "syntraf_influxdb: [{url: 'http://x', org: o, bucket: b, token: t, ca_path: ca.pem}]\n",
            ("syntraf_influxdb[0].ca_path", "absolute path"),
        ),
        (
            "syntraf_influxdb: [{url: 'http://x', org: o, bucket: b, token: t, verify_tls: nah}]\n",
            ("syntraf_influxdb[0].verify_tls", "true or false"),
        ),
        (
            "syntraf_influxdb: [{url: 'http://x', org: o, bucket: b, token: t, tokn: t}]\n",
            ("syntraf_influxdb[0].tokn", "unknown setting"),
        ),
        (
            "syntraf_influxdb: [{url: 'http://x', org: o, bucket: b, token: t},"
            " {url: 'http://y', org: o, bucket: b, token: t, name: influxdb-0}]\n",
            ("syntraf_influxdb", "'influxdb-0' is used twice"),
        ),
    ],
)
def test_host_rules(inventory, host_vars, fragments):
    inv = inventory("syntraf_mesh_groups:\n  voip: {interval: 10}\n").hosts(mesh_hosts("voip", "a", "b", "c"))
    inv.host_vars("a", host_vars)
    has(inv.problems(), "host_vars/a.yml:1", "host a", *fragments)


def test_a_missing_token_is_reported_without_echoing_any_token(inventory):
    inv = inventory(GROUP).hosts(mesh_hosts("voip", "a", "b"))
    inv.host_vars("a", "syntraf_influxdb: [{url: 'http://x', org: o, bucket: b, token: ''}]\n")
    line = has(inv.problems(), "host a", "syntraf_influxdb[0].token", "required")
    assert "got" not in line


def test_duplicate_uids(inventory):
    inv = inventory(GROUP).hosts(mesh_hosts("voip", "a", "b", "c"))
    inv.host_vars("b", "syntraf_uid: a\n")
    problems = inv.problems()
    has(problems, "host a", "syntraf_uid", "same uid as b")
    has(problems, "host_vars/b.yml:1", "host b", "syntraf_uid", "same uid as a")


def test_undefined_template_variable(inventory):
    inv = inventory(GROUP).hosts(mesh_hosts("voip", "a", "b"))
    inv.host_vars("a", "syntraf_address: '{{ no_such_variable }}'\n")
    has(
        inv.problems(),
        "host_vars/a.yml:1",
        "host a",
        "syntraf_address",
        "cannot be templated",
        "no_such_variable",
    )


def test_max_bandwidth_counts_what_the_host_sends_in_all_groups(inventory):
    inv = inventory("""\
        syntraf_mesh_groups:
          voip: {bandwidth: 100k, packet_size: 100}
          lab: {bandwidth: 100k, packet_size: 100}
        """).hosts("""\
        all:
          children:
            voip:
              hosts:
                a: {ansible_host: 192.0.2.1}
                b: {ansible_host: 192.0.2.2}
                c: {ansible_host: 192.0.2.3}
            lab: {hosts: {a: {}, b: {}}}
        """)
    # a sends 2 x 100k in voip and 100k in lab: 300k.
    inv.host_vars("a", "syntraf_max_bandwidth: 300k\n")
    assert inv.compile(lock=False)
    inv.host_vars("a", "syntraf_max_bandwidth: 299k\n")
    line = has(inv.problems(), "host_vars/a.yml:1", "host a", "syntraf_max_bandwidth", "300 kbit/s")
    assert "lab 100 kbit/s" in line and "voip 200 kbit/s" in line


def test_broken_yaml_names_the_file(inventory):
    inv = inventory(GROUP).hosts(mesh_hosts("voip", "a", "b"))
    inv.host_vars("a", "syntraf_exclude: {voip: [b\n")
    has(inv.problems(), "host_vars/a.yml", "inventory")


def test_missing_inventory(inventory, tmp_path):
    from syntraf_ctl.compile import compile_inventory
    from syntraf_ctl.problems import ValidationError

    with pytest.raises(ValidationError, match="no such file or directory"):
        compile_inventory(str(tmp_path / "nowhere"))


def test_inventory_hostname_must_be_usable_as_a_directory(inventory):
    inv = inventory(GROUP).hosts(mesh_hosts("voip", "a", "b") + "  hosts:\n    ../escape: {}\n")
    has(inv.problems(), "host ../escape", "directory name")


def test_warnings_for_groups_that_measure_nothing_and_hosts_without_database(inventory):
    inv = inventory("syntraf_mesh_groups:\n  voip: {}\n  solo: {members: a}\n", base=False)
    plan = inv.hosts(mesh_hosts("voip", "a", "b")).compile(lock=False)
    assert "mesh group solo has 1 member(s): it measures nothing" in plan.warnings
    assert "host a has no syntraf_influxdb database: its measurements are not stored" in plan.warnings


def test_script_inventory_plugin(inventory):
    inv = inventory(GROUP)
    script = inv.root / "dynamic.py"
    data = {
        "voip": {"hosts": ["a", "b"]},
        "_meta": {"hostvars": {"a": {"ansible_host": "192.0.2.1"}, "b": {"ansible_host": "192.0.2.2"}}},
    }
    script.write_text(f"#!{sys.executable}\nprint({json.dumps(data)!r})\n")
    script.chmod(0o755)
    plan = inv.compile(lock=False)
    assert sorted(plan.model.hosts) == ["a", "b"] and len(plan.edges) == 2


def test_mesh_groups_that_cannot_be_templated_are_one_problem(inventory):
    inv = inventory("syntraf_mesh_groups:\n  voip: {dscp: '{{ undefined_dscp }}'}\n")
    problems = inv.hosts(mesh_hosts("voip", "a", "b")).problems()
    assert len(problems) == 1
    has(problems, "group_vars/all.yml", "inventory: syntraf_mesh_groups", "undefined_dscp")
