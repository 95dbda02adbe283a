"""Edges of the mesh: who sends to whom in each group, who listens, who initiates, at which address.

An edge is one directed path src -> dst in one mesh group. The receiver measures: by default it initiates
(`iperf3 -c <src> -R`, mode `reverse`) against a listener on the sender; when the sender is behind NAT, the
sender initiates a normal test (mode `forward`) towards a listener on the receiver. Two hosts both behind
NAT cannot reach each other: the pair is left out with a warning.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    for name in sorted(model.groups):
        group = model.groups[name]
        if group.disabled:
            continue
        warnings.extend(shape_warnings(name, group.members, group.topology))
        for a_uid, b_uid in measured_pairs(name, group.members, group.topology):
            a, b = model.hosts[a_uid], model.hosts[b_uid]
            if not pair_kept(name, a, b):
                continue
            if a.behind_nat and b.behind_nat:
                warnings.append(f"mesh group {name}: {a.uid} and {b.uid} are both behind NAT, pair left out")
                continue
            edges.append(make_edge(group, a, b))
            edges.append(make_edge(group, b, a))
    edges.sort(key=lambda e: e.key)
    return edges, warnings
