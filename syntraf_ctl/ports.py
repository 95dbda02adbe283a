"""Listener ports: one per edge on the listening host, from that host's range, stable across changes.

Ports already recorded in the lock file are kept for every edge that still exists with the same listener
(and whose port is still inside the listener's range); new edges take the lowest free ports of the range,
in (group, src, dst) order, so the same inventory and lock always give the same ports.
"""

from __future__ import annotations

from collections import defaultdict

from syntraf_ctl.mesh import Edge
from syntraf_ctl.model import Host
from syntraf_ctl.problems import Problem

Locked = dict[str, dict[str, int]]  # listener uid -> edge lock key -> port


def lock_key(edge: Edge) -> str:
    """How an edge is named in the lock file: `group/src/dst` (uids and group names have no '/')."""
    return f"{edge.group}/{edge.src}/{edge.dst}"


def assign_ports(edges: list[Edge], hosts: dict[str, Host], locked: Locked) -> list[Problem]:
    """Set `port` on every edge; return a problem for each listener whose range is too small."""
    by_listener: dict[str, list[Edge]] = defaultdict(list)
    for edge in edges:
        by_listener[edge.listener].append(edge)
    problems = []
    for listener, own in sorted(by_listener.items()):
        low, high = hosts[listener].port_range
        size = high - low + 1
        if len(own) > size:
            problems.append(
                hosts[listener].problem(
                    "syntraf_listen_port_range",
                    f"port exhaustion: {len(own)} listeners needed (one per edge it listens for) "
                    f"but the range "
                    f"{low}-{high} has {size} ports",
                )
            )
            continue
        previous = locked.get(listener, {})
        used: set[int] = set()
        fresh = []
        for edge in own:
            port = previous.get(lock_key(edge))
            if port is not None and low <= port <= high and port not in used:
                edge.port = port
                used.add(port)
            else:
                fresh.append(edge)
        free = (port for port in range(low, high + 1) if port not in used)
        for edge, port in zip(fresh, free):
            edge.port = port
    return problems


def count_kept(edges: list[Edge], locked: Locked) -> int:
    """How many edges have the port the lock file gave them (the others are new or moved)."""
    return sum(1 for edge in edges if locked.get(edge.listener, {}).get(lock_key(edge)) == edge.port)


def locked_ports(edges: list[Edge]) -> Locked:
    """The lock content for assigned edges: listener -> {lock key: port}."""
    result: Locked = defaultdict(dict)
    for edge in edges:
        result[edge.listener][lock_key(edge)] = edge.port
    return dict(result)
