"""Ports of a rotating group: member slots and listener blocks in the lock file, stable when hosts come and
go, NAT pairs' second port, exhaustion, old lock files, and what `plan` says moved."""

from __future__ import annotations

import json
from pathlib import Path

from syntraf_ctl.changes import compare
from syntraf_ctl.lockfile import LOCK_NAME, read_lock

from .conftest import mesh_hosts
from .test_ports import commit_lock, ports
from .test_validation import has

ROTATING = "syntraf_mesh_groups:\n  wan: {topology: {kind: rotating, peers: 1}}\n"
BOTH = "syntraf_mesh_groups:\n  wan: {topology: {kind: rotating, peers: 1}}\n  voip: {members: wan}\n"


def test_a_listener_port_is_its_block_top_minus_the_initiator_slot(inventory):
    plan = inventory(ROTATING).hosts(mesh_hosts("wan", "a", "b", "c")).compile()
    # slots a=0, b=1, c=2; each listener's block is 16000 down to 15998 (its own slot's port stays unused)
    assert ports(plan) == {
        ("wan", "a", "b"): 15999,
        ("wan", "a", "c"): 15998,
        ("wan", "b", "a"): 16000,
        ("wan", "b", "c"): 15998,
        ("wan", "c", "a"): 16000,
        ("wan", "c", "b"): 15999,
    }
    commit_lock(plan)
    content = json.loads(Path(plan.lock_path).read_text())
    assert content["schema"] == 2 and content["ports"] == {}
    assert content["rotating"] == {
        "wan": {
            "blocks": {"a": 16000, "b": 16000, "c": 16000},
            "left_out": {},
            "slots": {"a": 0, "b": 1, "c": 2},
        }
    }


def test_hosts_added_and_removed_move_no_other_pair_and_reuse_the_freed_slot(inventory):
    inv = inventory(ROTATING).hosts(mesh_hosts("wan", "b", "c", "d"))
    before = inv.compile()
    commit_lock(before)
    inv.hosts(mesh_hosts("wan", "a", "b", "c", "d"))  # a sorts first: a fresh assignment would shift all
    grown = inv.compile()
    assert all(ports(grown)[key] == port for key, port in ports(before).items())
    assert grown.ports_from_lock == 6 and ports(grown)[("wan", "b", "a")] == 15997  # a took slot 3
    assert grown.changes().edges_changed == {}
    assert len(grown.changes().edges_added) == 6
    commit_lock(grown)
    inv.hosts(mesh_hosts("wan", "a", "b", "d"))
    shrunk = inv.compile()
    assert all(ports(grown)[key] == port for key, port in ports(shrunk).items())
    assert shrunk.changes().edges_removed == [
        "wan/a/c",
        "wan/b/c",
        "wan/c/a",
        "wan/c/b",
        "wan/c/d",
        "wan/d/c",
    ]
    commit_lock(shrunk)
    inv.hosts(mesh_hosts("wan", "a", "b", "d", "e"))
    again = inv.compile()
    assert ports(again)[("wan", "b", "e")] == 15999  # e took c's freed slot 1
    assert all(ports(again)[key] == port for key, port in ports(shrunk).items())


def test_an_unchanged_rotating_group_is_counted_not_listed(inventory):
    inv = inventory(ROTATING).hosts(mesh_hosts("wan", "a", "b", "c"))
    commit_lock(inv.compile())
    changes = inv.compile().changes()
    assert changes.locked_edges == 6 and not changes.edges_added + changes.edges_removed
    assert changes.edges_changed == {} and changes.destruction == []


def test_left_out_pairs_are_recorded_and_come_back_as_added_edges(inventory):
    inv = inventory(ROTATING).hosts(mesh_hosts("wan", "a", "b", "c", "d"))
    inv.host_vars("a", "syntraf_exclude: {wan: [c]}\n")
    plan = inv.compile()
    assert ("wan", "a", "c") not in ports(plan) and ports(plan)[("wan", "a", "d")] == 15997
    commit_lock(plan)
    assert plan.lock_state().rotating["wan"].left_out == {"a": ["c"], "c": ["a"]}
    assert inv.compile().changes().locked_edges == 10
    inv.host_vars("a", "syntraf_log_level: info\n")  # the exclude is gone
    changes = inv.compile().changes()
    assert changes.edges_added == ["wan/a/c", "wan/c/a"] and changes.edges_changed == {}


def test_a_sender_behind_nat_gets_a_second_port_outside_the_block(inventory):
    inv = inventory(ROTATING).hosts(mesh_hosts("wan", "a", "b", "c"))
    inv.host_vars("a", "syntraf_behind_nat: true\n")
    plan = inv.compile()
    by_key = {e.key: e for e in plan.edges}
    # b listens for both edges with a: a -> b (a initiates, forward) and b -> a (a initiates, reverse)
    assert (by_key[("wan", "b", "a")].listener, by_key[("wan", "b", "a")].port) == ("b", 16000)
    assert (by_key[("wan", "a", "b")].listener, by_key[("wan", "a", "b")].port) == ("b", 15000)
    assert "a" not in plan.lock_state().rotating["wan"].blocks  # a never listens
    for listener in "bc":
        used = [e.port for e in plan.edges if e.listener == listener]
        assert len(used) == len(set(used)) == 3
    commit_lock(plan)
    assert read_lock(plan.lock_path)[0].ports == {"b": {"wan/a/b": 15000}, "c": {"wan/a/c": 15000}}
    assert ports(inv.compile()) == ports(plan)


def test_blocks_and_per_edge_ports_of_other_groups_do_not_collide_and_stay(inventory):
    inv = inventory(BOTH).hosts(mesh_hosts("wan", "a", "b", "c"))
    plan = inv.compile()
    for listener in "abc":
        used = [e.port for e in plan.edges if e.listener == listener]
        assert len(used) == len(set(used)) == 4
    commit_lock(plan)
    inv.hosts(mesh_hosts("wan", "a", "b", "c", "d"))
    grown = inv.compile()
    # wan's blocks (16000 down to 15998) grow down to 15997; voip's edges fill the range from 15000 up
    assert all(ports(grown)[key] == port for key, port in ports(plan).items())
    for listener in "abcd":
        used = [e.port for e in grown.edges if e.listener == listener]
        assert len(used) == len(set(used))
    assert grown.changes().edges_changed == {}


def test_a_grown_block_that_meets_other_ports_keeps_its_top_and_they_move(inventory):
    inv = inventory(BOTH).hosts(mesh_hosts("wan", "a", "b", "c"))
    inv.host_vars("a", "syntraf_listen_port_range: 15000-15004\n")  # wan's block 15004-15002, voip 15000-1
    commit_lock(inv.compile())
    inv.hosts(mesh_hosts("wan", "a", "b", "c", "d"))
    inv.host_vars("a", "syntraf_listen_port_range: 15000-15006\n")
    grown = inv.compile()
    # wan's block on a grows down to 15001: voip/a/c moves out of its way (one edge, not the block's)
    assert grown.changes().edges_changed == {"voip/a/c": {"port": [15001, 15005]}}


def test_a_block_that_does_not_fit_is_port_exhaustion_naming_the_host_and_range(inventory):
    inv = inventory(ROTATING).hosts(mesh_hosts("wan", "a", "b", "c", "d"))
    inv.host_vars("c", "syntraf_listen_port_range: 15000-15002\n")
    line = has(inv.problems(), "host_vars/c.yml:1", "host c", "syntraf_listen_port_range", "port exhaustion")
    assert "4 listeners needed" in line and "a block of one per member" in line and "has 3 ports" in line


def test_an_old_lock_reads_keeps_full_mesh_ports_and_says_what_moved(inventory):
    inv = inventory(BOTH).hosts(mesh_hosts("wan", "a", "b"))
    old = {  # schema 1: every edge with its own port, the rotating group's too
        "schema": 1,
        "ports": {
            "a": {"voip/a/b": 15007, "wan/a/b": 15003},
            "b": {"voip/b/a": 15008, "wan/b/a": 15004},
        },
    }
    (inv.root / LOCK_NAME).write_text(json.dumps(old))
    plan = inv.compile()
    assert ports(plan)[("voip", "a", "b")] == 15007 and ports(plan)[("voip", "b", "a")] == 15008
    assert ports(plan)[("wan", "a", "b")] == 15999 and plan.ports_from_lock == 2
    changes = plan.changes()
    assert changes.locked_edges == 4 and not changes.edges_added + changes.edges_removed
    assert changes.edges_changed == {"wan/a/b": {"port": [15003, 15999]}, "wan/b/a": {"port": [15004, 16000]}}


def test_a_malformed_rotating_entry_is_a_damaged_lock(inventory):
    inv = inventory(ROTATING).hosts(mesh_hosts("wan", "a", "b"))
    lock = {"schema": 2, "ports": {}, "rotating": {"wan": {"slots": {"a": "0"}}}}
    (inv.root / LOCK_NAME).write_text(json.dumps(lock))
    has(inv.problems(), LOCK_NAME, "malformed `rotating` entry")
    (inv.root / LOCK_NAME).write_text(json.dumps({"schema": 3, "ports": {}}))
    has(inv.problems(), LOCK_NAME, "not a schema 1 or 2 syntraf lock file")


def test_a_full_mesh_lock_stays_schema_1(inventory):
    plan = inventory("syntraf_mesh_groups:\n  voip: {}\n").hosts(mesh_hosts("voip", "a", "b")).compile()
    assert compare(None, plan.lock_state()).locked is False
    commit_lock(plan)
    content = json.loads(Path(plan.lock_path).read_text())
    assert content["schema"] == 1 and "rotating" not in content


def test_a_block_moved_by_a_new_range_lists_each_of_its_edges_as_changed(inventory):
    inv = inventory(ROTATING).hosts(mesh_hosts("wan", "a", "b", "c"))
    commit_lock(inv.compile())
    inv.host_vars("a", "syntraf_listen_port_range: 20000-20010\n")
    changes = inv.compile().changes()
    assert changes.edges_changed == {"wan/a/b": {"port": [15999, 20009]}, "wan/a/c": {"port": [15998, 20008]}}
    assert changes.locked_edges == 6 and not changes.edges_added + changes.edges_removed


def test_the_plan_counts_a_listeners_whole_block_as_ports_used(inventory):
    """A block holds a port per slot, its own slot's included, whether or not an edge uses it: the plan's
    free ports are what is left outside it (a full group beside it takes ports of its own)."""
    plan = inventory(BOTH).hosts(mesh_hosts("wan", "a", "b", "c")).compile()
    host = plan.to_json()["hosts"]["a"]
    assert host["listeners"] == 2 + 2  # wan's block edges, voip's edges
    assert host["ports_used"] == 3 + 2  # wan's block of 3 slots, voip's ports
    assert host["ports_available"] == 1001 - 5
