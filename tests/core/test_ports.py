"""Listener ports: deterministic, per-host ranges, exhaustion, and stable across inventory changes."""

from __future__ import annotations

import json

from syntraf_ctl.lockfile import LOCK_NAME, read_lock, write_lock

from .conftest import mesh_hosts
from .test_validation import has

GROUP = "syntraf_mesh_groups:\n  voip: {}\n"


def ports(plan):
    return {e.key: e.port for e in plan.edges}


def commit_lock(plan):
    """What render/apply do after a successful run."""
    write_lock(plan.lock_path, plan.lock_state())


def test_fresh_assignment_takes_the_lowest_ports_in_edge_order(inventory):
    plan = inventory(GROUP).hosts(mesh_hosts("voip", "a", "b", "c")).compile()
    # Each host listens for the edges it sends (reverse mode), numbered from the bottom of its range.
    assert ports(plan) == {
        ("voip", "a", "b"): 15000,
        ("voip", "a", "c"): 15001,
        ("voip", "b", "a"): 15000,
        ("voip", "b", "c"): 15001,
        ("voip", "c", "a"): 15000,
        ("voip", "c", "b"): 15001,
    }


def test_same_inventory_same_ports(inventory):
    inv = inventory(GROUP).hosts(mesh_hosts("voip", "a", "b", "c", "d"))
    assert ports(inv.compile()) == ports(inv.compile())


def test_ports_are_unique_per_listening_host_across_groups(inventory):
    inv = inventory("syntraf_mesh_groups:\n  voip: {}\n  lab: {members: voip}\n")
    plan = inv.hosts(mesh_hosts("voip", "a", "b", "c")).compile()
    for host in "abc":
        used = [e.port for e in plan.edges if e.listener == host]
        assert len(used) == 4 and len(set(used)) == 4


def test_per_host_range(inventory):
    inv = inventory(GROUP).hosts(mesh_hosts("voip", "a", "b", "c"))
    inv.host_vars("b", "syntraf_listen_port_range: 9000-10000\n")
    plan = inv.compile()
    assert sorted(e.port for e in plan.edges if e.listener == "b") == [9000, 9001]
    assert sorted(e.port for e in plan.edges if e.listener == "a") == [15000, 15001]
    assert plan.to_json()["hosts"]["b"]["ports_available"] == 999


def test_port_exhaustion_is_an_error_naming_the_host_and_its_range(inventory):
    inv = inventory(GROUP).hosts(mesh_hosts("voip", "a", "b", "c", "d"))
    inv.host_vars("c", "syntraf_listen_port_range: 15000-15001\n")
    line = has(inv.problems(), "host_vars/c.yml:1", "host c", "syntraf_listen_port_range", "port exhaustion")
    assert "3 listeners needed" in line and "15000-15001 has 2 ports" in line


def test_edges_keep_their_ports_when_hosts_are_added_and_removed(inventory):
    inv = inventory(GROUP).hosts(mesh_hosts("voip", "b", "c", "d"))
    before = inv.compile()
    commit_lock(before)
    # Add a host whose uid sorts first: without the lock, every edge would shift.
    inv.hosts(mesh_hosts("voip", "a", "b", "c", "d"))
    grown = inv.compile()
    for key, port in ports(before).items():
        assert ports(grown)[key] == port
    assert grown.ports_from_lock == 6 and "6 kept from the lock file, 6 newly assigned" in grown.to_text()
    # The new edges on b take b's lowest free ports.
    assert ports(grown)[("voip", "b", "a")] == 15002
    assert ports(inv.compile(lock=False))[("voip", "b", "a")] == 15000
    commit_lock(grown)
    # Remove c: the edges between the others keep their ports; c's edges' ports are freed.
    inv.hosts(mesh_hosts("voip", "a", "b", "d"))
    shrunk = inv.compile()
    for key, port in ports(shrunk).items():
        assert ports(grown)[key] == port
    commit_lock(shrunk)
    locked, _ = read_lock(shrunk.lock_path)
    assert "voip/b/c" not in locked.ports["b"]
    # A host added later reuses the lowest freed port.
    inv.hosts(mesh_hosts("voip", "a", "b", "d", "e"))
    again = inv.compile()
    assert ports(again)[("voip", "b", "e")] == 15000  # was voip/b/c's port
    assert all(ports(again)[key] == port for key, port in ports(shrunk).items())


def test_a_locked_port_outside_a_new_range_is_reassigned(inventory):
    inv = inventory(GROUP).hosts(mesh_hosts("voip", "a", "b"))
    commit_lock(inv.compile())
    inv.host_vars("a", "syntraf_listen_port_range: 20000-20010\n")
    assert ports(inv.compile())[("voip", "a", "b")] == 20000


def test_a_new_listener_gets_a_fresh_port(inventory):
    inv = inventory(GROUP).hosts(mesh_hosts("voip", "a", "b", "c"))
    commit_lock(inv.compile())
    inv.host_vars("a", "syntraf_behind_nat: true\n")  # a->b is now listened for on b
    edge = next(e for e in inv.compile().edges if e.key == ("voip", "a", "b"))
    assert (edge.listener, edge.port) == ("b", 15002)


def test_lock_file_is_sorted_and_deterministic(inventory):
    inv = inventory(GROUP).hosts(mesh_hosts("voip", "b", "a"))
    plan = inv.compile()
    commit_lock(plan)
    path = inv.root / LOCK_NAME
    first = path.read_text()
    commit_lock(inv.compile())
    assert path.read_text() == first
    content = json.loads(first)
    assert content["schema"] == 1
    assert content["ports"] == {"a": {"voip/a/b": 15000}, "b": {"voip/b/a": 15000}}
    assert first.index('"a"') < first.index('"b"')


def test_ansible_does_not_read_the_lock_file_as_inventory(inventory):
    inv = inventory(GROUP).hosts(mesh_hosts("voip", "a", "b"))
    commit_lock(inv.compile())
    plan = inv.compile()
    assert sorted(plan.model.hosts) == ["a", "b"] and plan.model.idle_hosts == []


def test_a_damaged_lock_file_is_a_problem_unless_ignored(inventory):
    inv = inventory(GROUP).hosts(mesh_hosts("voip", "a", "b"))
    (inv.root / LOCK_NAME).write_text("<<<<<<< HEAD\n")
    has(inv.problems(), LOCK_NAME, "lock file", "delete it")
    assert inv.compile(lock=False).edges
    (inv.root / LOCK_NAME).write_text('{"schema": 1, "ports": {"a": {"voip/a/b": "x"}}}')
    has(inv.problems(), LOCK_NAME, "malformed entry for listener 'a'")
