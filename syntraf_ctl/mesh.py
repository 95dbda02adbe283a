"""Edges of the mesh: who sends to whom in each group, who listens, who initiates, at which address.

An edge is one directed path src -> dst in one mesh group. The receiver measures: by default it initiates
(`iperf3 -c <src> -R`, mode `reverse`) against a listener on the sender; when the sender is behind NAT, the
sender initiates a normal test (mode `forward`) towards a listener on the receiver. Two hosts both behind
NAT cannot reach each other: the pair is left out with a warning.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import combinations
from operator import attrgetter

from syntraf_ctl.model import Host, MeshGroup, Model, Traffic
from syntraf_ctl.topology import measured_pairs, shape_warnings


@dataclass(slots=True)
class Edge:
    group: str
    src: str
    dst: str
    listener: str
    initiator: str
    mode: str  # "reverse" or "forward"
    connect_address: str
    traffic: Traffic
    port: int = 0  # set by syntraf_ctl.ports.assign_ports
    pkcs1_padding: bool = False  # set by syntraf_ctl.auth.facts.apply_auth_rule for mixed 3.12/3.17+ pairs

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.group, self.src, self.dst)


def pair_kept(group: str, a: Host, b: Host) -> bool:
    """Whether hosts a and b measure each other in `group`.

    If either lists include-only hosts for this group, the pair is kept only if one lists the other (and the
    group's exclude lists do not apply to it); otherwise one side's exclude list is enough to drop it.
    """
    include_a = a.include_only.get(group)
    include_b = b.include_only.get(group)
    if include_a is not None or include_b is not None:
        return (include_a is not None and b.uid in include_a) or (
            include_b is not None and a.uid in include_b
        )
    return b.uid not in a.exclude.get(group, ()) and a.uid not in b.exclude.get(group, ())


def make_edge(group: MeshGroup, src: Host, dst: Host) -> Edge:
    """The edge src -> dst; the caller has ruled out src and dst both behind NAT."""
    if src.behind_nat:
        listener, initiator, mode = dst, src, "forward"
    else:
        listener, initiator, mode = src, dst, "reverse"
    address = initiator.override_dst.get(listener.uid, listener.address)
    return Edge(group.name, src.uid, dst.uid, listener.uid, initiator.uid, mode, address, group.traffic)


def compute_edges(model: Model) -> tuple[list[Edge], list[str]]:
    """Every edge of every enabled group, sorted by (group, src, dst), and warnings about left-out pairs."""
    edges: list[Edge] = []
    warnings: list[str] = []
    hosts = model.hosts
    overrides = any(host.override_dst for host in hosts.values())
    for name in sorted(model.groups):
        group = model.groups[name]
        if group.disabled:
            continue
        warnings.extend(shape_warnings(name, group.members, group.topology))
        peers_of = kept_peers(group, hosts)
        nat = {uid for uid in group.members if hosts[uid].behind_nat}
        warnings.extend(
            f"mesh group {name}: {a} and {b} are both behind NAT, pair left out"
            for a, b in combinations(sorted(nat), 2)
            if b in peers_of(a)
        )
        for src in group.members:  # sorted, and so are its peers: the edges come out sorted
            source, peers = hosts[src], peers_of(src)
            if source.behind_nat or overrides:
                both_nat = source.behind_nat and nat
                edges.extend(
                    make_edge(group, source, hosts[d]) for d in peers if not both_nat or d not in nat
                )
            else:  # the common case inlined (999,000 edges in a rotating:1000 group)
                address, traffic = source.address, group.traffic
                edges.extend([Edge(name, src, d, src, d, "reverse", address, traffic) for d in peers])
    return edges, warnings


def kept_peers(group: MeshGroup, hosts: dict[str, Host]) -> Callable[[str], list[str]]:
    """uid -> the members it measures in `group` (by shape and include/exclude), sorted."""
    name, members = group.name, group.members
    filtered = {uid for uid in members if name in hosts[uid].include_only or name in hosts[uid].exclude}
    if group.topology.kind in ("full", "rotating"):  # every pair: no need to list them
        measured = None
    else:
        measured = {uid: [] for uid in members}
        for a, b in measured_pairs(name, members, group.topology):
            measured[a].append(b)
            measured[b].append(a)

    def peers(src: str) -> list[str]:
        candidates = sorted(measured[src]) if measured is not None else [m for m in members if m != src]
        if src in filtered:
            return [dst for dst in candidates if pair_kept(name, hosts[src], hosts[dst])]
        if filtered:
            return [d for d in candidates if d not in filtered or pair_kept(name, hosts[src], hosts[d])]
        return candidates

    return peers


def runs(
    edges: list[Edge], field: str, start: int = 0, end: int | None = None
) -> Iterator[tuple[str, int, int]]:
    """(value, start, end) of each run of edges with the same `field` ("group", "src") in edges[start:end],
    which is sorted by it: found by bisection, without looking at every edge."""
    key = attrgetter(field)
    end = len(edges) if end is None else end
    while start < end:
        value = key(edges[start])
        stop = bisect_right(edges, value, start, end, key=key)
        yield value, start, stop
        start = stop


def edges_by_group(edges: list[Edge]) -> dict[str, list[Edge]]:
    """group -> its edges, in the plan's order (`edges` sorted by group, as compute_edges makes them)."""
    return {group: edges[start:end] for group, start, end in runs(edges, "group")}
