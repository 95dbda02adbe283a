"""A rotating group's edges as tables over its members, read in one pass: what the compact forms of the
probe config and of the plan JSON are made of, so that neither builds an object per edge (a 1,000-host
rotating group has 999,000 edges)."""

from __future__ import annotations

from dataclasses import dataclass

from syntraf_ctl.mesh import Edge
from syntraf_ctl.model import Host


@dataclass
class EdgeTables:
    members: tuple[str, ...]
    ports: list[list[int | None]]  # [i][j]: the port of the edge members[i] -> members[j]; None: no edge
    redirected: list[Edge]  # edges whose initiator connects to another address than the listener's
    pkcs1: list[Edge]  # edges that pass --use-pkcs1-padding


def edge_tables(members: tuple[str, ...], edges: list[Edge], hosts: dict[str, Host]) -> EdgeTables:
    """`edges` (of one group with these `members`) as a port matrix and the few edges that need more."""
    index = {uid: i for i, uid in enumerate(members)}
    address = {uid: hosts[uid].address for uid in members}
    ports: list[list[int | None]] = [[None] * len(members) for _ in members]
    redirected, pkcs1 = [], []
    for edge in edges:
        ports[index[edge.src]][index[edge.dst]] = edge.port
        if edge.connect_address != address[edge.listener]:
            redirected.append(edge)
        if edge.pkcs1_padding:
            pkcs1.append(edge)
    return EdgeTables(members, ports, redirected, pkcs1)
