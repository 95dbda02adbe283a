"""Properties of the topologies' pure parts, up to N = 1,000 hosts: the rotating schedule's degrees and
coverage, the stability of the sites' representative pairs and of a rotating group's ports when a host is
added. Budget:
SYNTRAF_PROPERTY_EXAMPLES (default 100) examples each."""

from __future__ import annotations

import os
from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from syntraf_probe.schedule import Schedule, epochs_to_cover, offsets

from syntraf_ctl.lockfile import LockState
from syntraf_ctl.mesh import compute_edges
from syntraf_ctl.model import Host, MeshGroup, Model, Traffic
from syntraf_ctl.ports import RotatingPorts, assign_ports, locked_ports, member_slots
from syntraf_ctl.topology import Topology, representative_pairs, site_pair_hash

BUDGET = settings(
    max_examples=int(os.environ.get("SYNTRAF_PROPERTY_EXAMPLES", "100")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@st.composite
def rotations(draw: st.DrawFn, most: int = 1000) -> tuple[Schedule, int]:
    """A schedule of 2..most members with 1..N-1 peers, and a start epoch (also far from 0 and negative)."""
    n = draw(st.integers(2, most))
    k = draw(st.integers(1, n - 1))
    members = tuple(f"h{i:04d}" for i in range(n))
    return Schedule(60, 0, k, members), draw(st.integers(-(10**9), 10**9))


@BUDGET
@given(rotations())
def test_every_host_sends_to_and_receives_from_exactly_k_peers_at_every_epoch(case) -> None:
    schedule, epoch = case
    pairs = schedule.active_pairs(epoch)
    n, k = len(schedule.members), schedule.peers
    assert all(src != dst for src, dst in pairs)
    assert len(pairs) == n * k
    assert Counter(src for src, _ in pairs) == dict.fromkeys(schedule.members, k)
    assert Counter(dst for _, dst in pairs) == dict.fromkeys(schedule.members, k)
    host = schedule.members[epoch % n]
    assert schedule.pairs_of(host, epoch) == {p for p in pairs if host in p}


@BUDGET
@given(rotations())
def test_any_ceil_n_minus_1_over_k_consecutive_epochs_use_every_offset(case) -> None:
    """Pair (i, i+d) runs exactly when offset d does: every offset is every ordered pair."""
    schedule, start = case
    n, k = len(schedule.members), schedule.peers
    bound = epochs_to_cover(n, k)
    assert bound == -(-(n - 1) // k)
    used = set().union(*(offsets(e, n, k) for e in range(start, start + bound)))
    assert used == set(range(1, n))


@BUDGET
@given(rotations(most=40))
def test_every_ordered_pair_is_measured_within_the_bound(case) -> None:
    schedule, start = case
    n = len(schedule.members)
    seen = set().union(
        *(schedule.active_pairs(e) for e in range(start, start + epochs_to_cover(n, schedule.peers)))
    )
    assert len(seen) == n * (n - 1)


@BUDGET
@given(st.integers(1, 10**6), st.integers(0, 4 * 10**12), st.integers(0, 10**9))
def test_epochs_switch_at_multiples_of_the_epoch_length_from_the_origin(length, now_ms, origin) -> None:
    now = now_ms / 1000  # clock readings: Unix time in seconds, to the millisecond
    schedule = Schedule(length, origin, 1, ("a", "b"))
    epoch = schedule.epoch(now)
    assert origin + epoch * length <= now < origin + (epoch + 1) * length
    assert schedule.next_switch(now) == origin + (epoch + 1) * length


@st.composite
def site_layouts(draw: st.DrawFn, most: int = 50) -> tuple[list[list[str]], int, int]:
    """2..20 sites of 1..most hosts (at most 1,000), the pairs per two sites, and where a host is added."""
    sizes = draw(st.lists(st.integers(1, most), min_size=2, max_size=20))
    sites, serial = [], 0
    for size in sizes:
        sites.append([f"s{len(sites)}-h{serial + i}" for i in range(size)])
        serial += size
    return sites, draw(st.integers(1, 5)), draw(st.integers(0, len(sites) - 1))


def layout(sites: list[list[str]]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return tuple((f"site{i}", tuple(sorted(hosts))) for i, hosts in enumerate(sites))


@BUDGET
@given(site_layouts())
def test_sites_get_a_bounded_number_of_pairs_and_adding_a_host_reshuffles_no_other_pair(case) -> None:
    sites, count, where = case
    before = representative_pairs("g", layout(sites), count)
    site_of = {host: i for i, hosts in enumerate(sites) for host in hosts}
    between = Counter(frozenset(site_of[h] for h in pair) for pair in before)
    assert all(site_of[a] < site_of[b] for a, b in before)
    for i in range(len(sites)):
        for j in range(i + 1, len(sites)):
            assert between[frozenset((i, j))] == min(count, len(sites[i]) * len(sites[j]))
    sites[where].append("new-host")
    after = representative_pairs("g", layout(sites), count)
    with_new = {pair for pair in after if "new-host" in pair}
    assert after - with_new <= before  # no pair of two other hosts appears
    assert len(before - after) <= len(with_new)  # and one disappears only for a pair of the new host


@BUDGET
@given(site_layouts(most=12))
def test_sites_pairs_are_the_best_ranked_of_every_cross_pair(case) -> None:
    """Only the best-hashed hosts of each site are ranked: that must pick what ranking every pair would."""
    sites, count, _ = case
    named = layout(sites)
    chosen = representative_pairs("g", named, count)
    expected = set()
    for i, (first, hosts_a) in enumerate(named):
        for second, hosts_b in named[i + 1 :]:
            ranked = []
            for a in hosts_a:
                for b in hosts_b:
                    ha, hb = site_pair_hash("g", first, second, a), site_pair_hash("g", first, second, b)
                    ranked.append((max(ha, hb), min(ha, hb), a, b))
            expected |= {(a, b) for _, _, a, b in sorted(ranked)[:count]}
    assert chosen == expected


@BUDGET
@given(st.integers(1, 1000), st.data())
def test_member_slots_keep_every_member_that_stays_and_reuse_the_lowest_free(n, data) -> None:
    members = [f"h{i:04d}" for i in range(n)]
    before = member_slots(tuple(members), None)
    assert sorted(before.values()) == list(range(n))
    gone = set(data.draw(st.lists(st.sampled_from(members), max_size=5)))
    added = [f"new{i}" for i in range(data.draw(st.integers(0, 5)))]
    after = member_slots(tuple(sorted(set(members) - gone) + added), RotatingPorts(slots=before))
    assert all(after[uid] == before[uid] for uid in members if uid not in gone)
    assert len(set(after.values())) == len(after)
    freed = sorted(before[uid] for uid in gone) + list(range(n, n + len(added)))
    assert sorted(after[uid] for uid in added) == freed[: len(added)]


def synthetic_model(members: list[str], nat: set[str]) -> Model:
    """A model of one rotating group, built directly: the inventory is not what this property is about."""
    hosts = {
        uid: Host(
            uid,
            uid,
            f"192.0.2.{i % 250}",
            uid in nat,
            (15000, 16000),
            {},
            {},
            {},
            None,
            (),
            "iperf3",
            300,
            0,
            "info",
            True,
            "3.12",
            10,
            None,
        )  # fmt: skip
        for i, uid in enumerate(members)
    }
    group = MeshGroup(
        "g", Traffic(64000, 160, 50, 46, 1), tuple(members), topology=Topology("rotating", peers=2)
    )
    return Model({"g": group}, hosts, [])


def planned_ports(members: list[str], nat: set[str], lock: LockState | None) -> tuple[dict, LockState]:
    model = synthetic_model(sorted(members), nat)
    edges, _ = compute_edges(model)
    assignment = assign_ports(edges, model, lock.ports if lock else {}, lock.rotating if lock else {})
    assert not assignment.problems
    state = LockState(locked_ports(edges, assignment.rotating), rotating=assignment.rotating)
    return {e.key: (e.listener, e.port) for e in edges}, state


@BUDGET
@given(st.integers(2, 60), st.data())
def test_adding_or_removing_a_host_of_a_rotating_group_moves_no_other_pair_port(n, data) -> None:
    members = [f"h{i:04d}" for i in range(n)]
    nat = set(data.draw(st.lists(st.sampled_from(members), max_size=3)))
    before, lock = planned_ports(members, nat, None)
    changed = members + ["h" + data.draw(st.sampled_from(["0000a", "9999", "0500x"]))]
    if n > 2 and data.draw(st.booleans()):
        changed.remove(data.draw(st.sampled_from(members)))
    after, _ = planned_ports(changed, nat, lock)
    assert all(after[key] == value for key, value in before.items() if key in after)
    per_listener = Counter(after.values())
    assert max(per_listener.values()) == 1  # no listener uses a port twice
    assert all(15000 <= port <= 16000 for _, port in after.values())
