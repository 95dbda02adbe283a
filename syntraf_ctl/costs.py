"""What each mesh group's shape costs and covers: flows running at a time per host, and the pairs measured.

A flow is one edge running: one iperf3 process on each of its two hosts. In a rotating group a host runs at
most k of its edges out and k in at a time (fewer where include/exclude or NAT left pairs out); in the
other shapes every edge runs all the time. Pure: no I/O.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from syntraf_probe.schedule import epochs_to_cover

from syntraf_ctl.mesh import Edge
from syntraf_ctl.model import Model
from syntraf_ctl.topology import schedule


def concurrent_flows(model: Model, edges: list[Edge]) -> dict[tuple[str, str], tuple[int, int]]:
    """(group, uid) -> (flows it sends, flows it receives) at a time, for every host with an edge."""
    out = Counter((e.group, e.src) for e in edges)
    into = Counter((e.group, e.dst) for e in edges)
    result = {}
    for key in sorted(set(out) | set(into)):
        group = model.groups[key[0]]
        rotation = schedule(group.members, group.topology)
        limit = rotation.peers if rotation else len(group.members)
        result[key] = (min(limit, out[key]), min(limit, into[key]))
    return result


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
    measured = Counter((e.group, uid) for e in edges for uid in (e.src, e.dst))
    result: dict[str, dict[str, dict[str, int]]] = {}
    for name in sorted(model.groups):
        group = model.groups[name]
        if group.disabled:
            continue
        for uid in group.members:
            result.setdefault(uid, {})[name] = {
                "pairs": measured[(name, uid)],
                "of": 2 * (len(group.members) - 1),
            }
    return result
