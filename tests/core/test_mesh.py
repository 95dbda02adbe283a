"""Mesh semantics: full mesh, include-only/exclude per group, overrides, NAT, profiles, two of three."""

from __future__ import annotations

from itertools import permutations

from .conftest import mesh_hosts

TWO_GROUPS = """\
all:
  children:
    voip:
      hosts:
        a: {ansible_host: 192.0.2.1}
        b: {ansible_host: 192.0.2.2}
        c: {ansible_host: 192.0.2.3}
        d: {ansible_host: 192.0.2.4}
    lab:
      hosts:
        a:
        b:
        c:
"""
GROUPS = "syntraf_mesh_groups:\n  voip: {}\n  lab: {}\n"


def pairs(plan, group):
    """The set of directed (src, dst) pairs of `group`."""
    return {(e.src, e.dst) for e in plan.edges if e.group == group}


def full(*uids):
    return set(permutations(uids, 2))


def test_full_mesh_has_n_times_n_minus_one_edges_per_group(inventory):
    plan = inventory(GROUPS).hosts(TWO_GROUPS).compile(lock=False)
    assert pairs(plan, "voip") == full("a", "b", "c", "d")
    assert pairs(plan, "lab") == full("a", "b", "c")
    assert len(plan.edges) == 12 + 6
    assert plan.to_json()["totals"]["edges"] == 18


def test_by_default_the_receiver_initiates_in_reverse_mode_towards_the_sender(inventory):
    plan = inventory(GROUPS).hosts(TWO_GROUPS).compile(lock=False)
    for edge in plan.edges:
        assert (edge.mode, edge.listener, edge.initiator) == ("reverse", edge.src, edge.dst)
        assert edge.connect_address == plan.model.hosts[edge.src].address


def test_exclude_on_one_side_drops_the_pair_in_that_group_only(inventory):
    inv = inventory(GROUPS).hosts(TWO_GROUPS)
    inv.host_vars("c", "syntraf_exclude: {voip: [a]}\n")
    plan = inv.compile(lock=False)
    assert pairs(plan, "voip") == full("a", "b", "c", "d") - {("a", "c"), ("c", "a")}
    assert pairs(plan, "lab") == full("a", "b", "c")


def test_include_only_keeps_only_listed_pairs_of_that_host_in_that_group(inventory):
    inv = inventory(GROUPS).hosts(TWO_GROUPS)
    inv.host_vars("a", "syntraf_include_only: {voip: [b]}\n")
    plan = inv.compile(lock=False)
    dropped = {("a", "c"), ("c", "a"), ("a", "d"), ("d", "a")}
    assert pairs(plan, "voip") == full("a", "b", "c", "d") - dropped
    assert pairs(plan, "lab") == full("a", "b", "c")


def test_include_only_listing_on_the_other_side_is_enough(inventory):
    inv = inventory(GROUPS).hosts(TWO_GROUPS)
    inv.host_vars("a", "syntraf_include_only: {voip: [b]}\n")
    inv.host_vars("c", "syntraf_include_only: {voip: [a]}\n")
    plan = inv.compile(lock=False)
    assert ("a", "c") in pairs(plan, "voip") and ("c", "a") in pairs(plan, "voip")
    # c's list holds only a, so c-b and c-d are gone; a's list holds b and c's lists a, so a-d is gone.
    assert pairs(plan, "voip") == full("a", "b", "c") - {("b", "c"), ("c", "b")} | full("b", "d")


def test_include_only_overrides_that_groups_exclude_for_the_pair(inventory):
    inv = inventory(GROUPS).hosts(TWO_GROUPS)
    inv.host_vars("a", "syntraf_include_only: {voip: [b]}\n")
    inv.host_vars("b", "syntraf_exclude: {voip: [a, c], lab: [a]}\n")
    plan = inv.compile(lock=False)
    assert ("a", "b") in pairs(plan, "voip")  # include-only wins over b's exclude in voip
    assert ("b", "c") not in pairs(plan, "voip")  # b's exclude still applies to pairs without include-only
    assert ("a", "b") not in pairs(plan, "lab")  # a's include-only is for voip: lab's exclude applies


def test_override_dst_applies_when_that_host_connects_to_that_peer(inventory):
    inv = inventory(GROUPS).hosts(TWO_GROUPS)
    inv.host_vars("b", "syntraf_override_dst: {a: 203.0.113.1}\n")
    plan = inv.compile(lock=False)
    by_key = {e.key: e for e in plan.edges}
    # b receives from a: b initiates towards a's listener, through the override.
    assert by_key[("voip", "a", "b")].initiator == "b"
    assert by_key[("voip", "a", "b")].connect_address == "203.0.113.1"
    assert by_key[("lab", "a", "b")].connect_address == "203.0.113.1"
    # Everyone else reaches a at its own address; b's own listener is unaffected.
    assert by_key[("voip", "a", "c")].connect_address == "192.0.2.1"
    assert by_key[("voip", "b", "a")].connect_address == "192.0.2.2"


def test_a_host_behind_nat_initiates_everything_and_never_listens(inventory):
    inv = inventory(GROUPS).hosts(TWO_GROUPS)
    inv.host_vars("a", "syntraf_behind_nat: true\n")
    plan = inv.compile(lock=False)
    by_key = {e.key: e for e in plan.edges}
    sending = by_key[("voip", "a", "b")]
    assert (sending.mode, sending.initiator, sending.listener) == ("forward", "a", "b")
    assert sending.connect_address == "192.0.2.2"
    receiving = by_key[("voip", "b", "a")]
    assert (receiving.mode, receiving.initiator, receiving.listener) == ("reverse", "a", "b")
    assert not [e for e in plan.edges if e.listener == "a"]
    assert plan.to_json()["hosts"]["a"]["listeners"] == 0


def test_two_hosts_behind_nat_are_left_out_with_a_warning(inventory):
    inv = inventory(GROUPS).hosts(TWO_GROUPS)
    inv.host_vars("a", "syntraf_behind_nat: true\n")
    inv.host_vars("b", "syntraf_behind_nat: yes\n")
    plan = inv.compile(lock=False)
    assert ("a", "b") not in pairs(plan, "voip") and ("b", "a") not in pairs(plan, "voip")
    assert len(pairs(plan, "voip")) == 12 - 2
    assert "mesh group voip: a and b are both behind NAT, pair left out" in plan.warnings
    assert "mesh group lab: a and b are both behind NAT, pair left out" in plan.warnings


def test_members_host_pattern(inventory):
    inv = inventory("syntraf_mesh_groups:\n  core: {members: 'voip:&lab:!c'}\n").hosts(TWO_GROUPS)
    plan = inv.compile(lock=False)
    assert pairs(plan, "core") == full("a", "b")
    assert plan.model.idle_hosts == ["c", "d"]


def test_disabled_group_has_no_edges_and_its_only_members_are_idle(inventory):
    inv = inventory("syntraf_mesh_groups:\n  voip: {disabled: true}\n  lab: {}\n").hosts(TWO_GROUPS)
    plan = inv.compile(lock=False)
    assert not pairs(plan, "voip")
    assert pairs(plan, "lab") == full("a", "b", "c")
    assert plan.model.idle_hosts == ["d"]
    assert "mesh group voip is disabled" in plan.warnings


def test_uid_and_address_defaults_and_overrides(inventory):
    inv = inventory("syntraf_mesh_groups:\n  voip: {}\n").hosts("""\
        all:
          children:
            voip:
              hosts:
                a.example.net:
                b: {ansible_host: 192.0.2.2, syntraf_uid: bravo, syntraf_address: b.example.net}
        """)
    plan = inv.compile(lock=False)
    hosts = plan.model.hosts
    assert hosts["a.example.net"].address == "a.example.net"  # no ansible_host: the inventory hostname
    assert (hosts["bravo"].name, hosts["bravo"].address) == ("b", "b.example.net")
    assert pairs(plan, "voip") == {("a.example.net", "bravo"), ("bravo", "a.example.net")}


def test_defaults_when_no_rate_is_given(inventory):
    plan = (
        inventory("syntraf_mesh_groups:\n  voip: {}\n")
        .hosts(mesh_hosts("voip", "a", "b"))
        .compile(lock=False)
    )
    traffic = plan.model.groups["voip"].traffic
    assert (traffic.bandwidth_bps, traffic.packet_size, traffic.packets_per_second) == (100_000, 32, 390.625)
    assert (traffic.dscp, traffic.interval) == (0, 10.0)


def test_two_of_three_derives_the_third(inventory):
    inv = inventory("""\
        syntraf_mesh_groups:
          size_pps: {packet_size: 172, packets_per_second: 50}
          bw_size: {bandwidth: 1m, packet_size: 1250}
          bw_pps: {bandwidth: 87.2k, packets_per_second: 50}
        """).hosts("""\
        all:
          children:
            size_pps: {hosts: {a: {ansible_host: 192.0.2.1}, b: {ansible_host: 192.0.2.2}}}
            bw_size: {hosts: {a: {}, b: {}}}
            bw_pps: {hosts: {a: {}, b: {}}}
        """)
    groups = inv.compile(lock=False).model.groups
    rates = {
        name: (g.traffic.bandwidth_bps, g.traffic.packet_size, g.traffic.packets_per_second)
        for name, g in groups.items()
    }
    assert rates["size_pps"] == (68_800, 172, 50)  # bits, not the original's bytes
    assert rates["bw_size"] == (1_000_000, 1250, 100)
    assert rates["bw_pps"] == (87_200, 218, 50)


def test_profile_with_group_overrides_and_null_to_drop_a_profile_key(inventory):
    inv = inventory("""\
        syntraf_iperf3_profiles:
          g711: {dscp: ef, interval: 1, packet_size: 172, packets_per_second: 50}
        syntraf_mesh_groups:
          voip: {profile: g711}
          lab: {profile: g711, dscp: af21, bandwidth: 1m, packets_per_second: null}
        """).hosts(TWO_GROUPS)
    groups = inv.compile(lock=False).model.groups
    voip, lab = groups["voip"].traffic, groups["lab"].traffic
    assert (voip.dscp, voip.interval, voip.bandwidth_bps, voip.packet_size) == (46, 1.0, 68_800, 172)
    assert (lab.dscp, lab.interval, lab.bandwidth_bps, lab.packet_size) == (18, 1.0, 1_000_000, 172)
    assert lab.packets_per_second == round(1_000_000 / (8 * 172), 3)
    assert groups["lab"].profile == "g711"


def test_totals_count_payload_and_wire_with_ipv4_udp_headers(inventory):
    inv = inventory("syntraf_mesh_groups:\n  voip: {packet_size: 172, packets_per_second: 50}\n")
    plan = inv.hosts(mesh_hosts("voip", "a", "b", "c")).compile(lock=False)
    host = plan.to_json()["hosts"]["a"]
    assert (host["send_bps"], host["receive_bps"]) == (2 * 68_800, 2 * 68_800)
    assert host["wire_send_bps"] == 2 * (172 + 28) * 8 * 50
    assert plan.to_json()["totals"]["payload_bps"] == 6 * 68_800


def test_large_groups_are_warned_about(inventory):
    inv = inventory("syntraf_mesh_groups:\n  big: {bandwidth: 200m, packet_size: 1400}\n")
    plan = inv.hosts(mesh_hosts("big", "a", "b", "c")).compile(lock=False)
    assert any(w.startswith("mesh group big: the whole mesh sends 1.2 Gbit/s") for w in plan.warnings)


def test_the_core_is_pure_python_without_ansible():
    """DESIGN: model, validation, mesh and port planning import no Ansible (fast, unit-testable)."""
    import subprocess
    import sys

    code = (
        "import sys, syntraf_ctl.model, syntraf_ctl.mesh, syntraf_ctl.ports, syntraf_ctl.plan, "
        "syntraf_ctl.value_parsers; sys.exit('ansible' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
