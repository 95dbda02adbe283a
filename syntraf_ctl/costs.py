"""What each mesh group's shape costs and covers: flows running at a time per host, and the pairs measured.

A flow is one edge running: one iperf3 process on each of its two hosts. In a rotating group a host runs at
most k of its edges out and k in at a time (fewer where include/exclude or NAT left pairs out); in the
other shapes every edge runs all the time. Pure: no I/O.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from syntraf_probe.schedule import epochs_to_cover

from syntraf_ctl.mesh import Edge, runs
from syntraf_ctl.model import Model
from syntraf_ctl.topology import schedule


def edge_counts(model: Model, edges: list[Edge]) -> dict[tuple[str, str], tuple[int, int, int]]:
    """(group, uid) -> (edges it sends, edges it receives, edges it listens for), for every host with an
    edge. `edges` sorted by group, as compute_edges makes them. A group with all its N(N-1) edges and no
    host behind NAT gives every member N-1 of each without looking at them (999,000 in rotating:1000)."""
    result: dict[tuple[str, str], tuple[int, int, int]] = {}
    for name, (start, end) in group_spans(edges).items():
        members = model.groups[name].members
        n = len(members)
        if end - start == n * (n - 1) and not any(model.hosts[uid].behind_nat for uid in members):
            result.update(((name, uid), (n - 1, n - 1, n - 1)) for uid in members)
            continue
        span = edges[start:end]
        out, into = Counter(e.src for e in span), Counter(e.dst for e in span)
        listens = Counter(e.listener for e in span)
        result.update(((name, uid), (out[uid], into[uid], listens[uid])) for uid in sorted(out | into))
    return result


def group_spans(edges: list[Edge]) -> dict[str, tuple[int, int]]:
    """group -> (start, end) of its edges in `edges`, sorted by group."""
    return {name: (start, end) for name, start, end in runs(edges, "group")}


def concurrent_flows(model: Model, edges: list[Edge]) -> dict[tuple[str, str], tuple[int, int]]:
    """(group, uid) -> (flows it sends, flows it receives) at a time, for every host with an edge."""
    limits = {}
    for name, group in model.groups.items():
        rotation = schedule(group.members, group.topology)
        limits[name] = rotation.peers if rotation else len(group.members)
    return {
        key: (min(limits[key[0]], out), min(limits[key[0]], into))
        for key, (out, into, _) in sorted(edge_counts(model, edges).items())
    }


def group_coverage(model: Model, name: str, edges: int) -> dict[str, Any]:
    """The ordered pairs a group measures (`edges` of them) out of all, and how long a rotation takes."""
    group = model.groups[name]
    n = len(group.members)
    rotation = schedule(group.members, group.topology)
    epochs = epochs_to_cover(n, rotation.peers) if rotation else None
    return {
        "pairs": edges,
        "of": n * (n - 1),
        "epochs": epochs,
        "cycle_seconds": epochs * rotation.epoch_seconds if rotation else None,
    }


def host_coverage(model: Model, edges: list[Edge]) -> dict[str, dict[str, dict[str, int]]]:
    """uid -> group -> the ordered pairs with the host that the group measures, of all it could."""
    counts = edge_counts(model, edges)
    result: dict[str, dict[str, dict[str, int]]] = {}
    for name in sorted(model.groups):
        group = model.groups[name]
        if group.disabled:
            continue
        for uid in group.members:
            out, into, _ = counts.get((name, uid), (0, 0, 0))
            result.setdefault(uid, {})[name] = {"pairs": out + into, "of": 2 * (len(group.members) - 1)}
    return result
