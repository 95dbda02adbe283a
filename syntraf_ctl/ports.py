"""Listener ports: from each listener's range, stable across changes.

Most edges get a port of their own: ports recorded in the lock file are kept for every edge that still
exists with the same listener (and whose port is still inside the listener's range); new edges take the
lowest free ports of the range, in (group, src, dst) order: the same inventory and lock give the same ports.

A rotating group has every ordered pair as an edge (999,000 for 1,000 hosts), so its ports follow from two
small tables instead: each member has a slot in the group (kept; a new member takes the lowest free slot),
and each listener a block of ports for the group, given by its top port (kept; a new block takes the highest
run of free ports that fits). The edge a listener L listens for from initiator I has port top(L) - slot(I):
adding or removing a host moves no other pair's port. Blocks sit at the top of the range and grow down,
ports of their own fill it from the bottom up, so a growing group meets them only when the range is full.
Only the edges whose sender is behind NAT (forward mode: L listens for both edges of the pair) take a port
of their own, outside the block.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

from syntraf_ctl.mesh import Edge, runs
from syntraf_ctl.model import Host, Model
from syntraf_ctl.problems import Problem

Locked = dict[str, dict[str, int]]  # listener uid -> edge lock key -> port


@dataclass
class RotatingPorts:
    """A rotating group's ports, as the lock file records them."""

    slots: dict[str, int] = field(default_factory=dict)  # member uid -> slot
    blocks: dict[str, int] = field(default_factory=dict)  # listener uid -> top port of its block
    left_out: dict[str, list[str]] = field(default_factory=dict)  # listener -> members with no edge to it
    # (include/exclude, auth), sorted: the block edges are every (listener, other member) pair but these

    def size(self) -> int:
        """Ports in each listener's block: one per slot."""
        return max(self.slots.values(), default=-1) + 1

    def edge_count(self) -> int:
        """How many block edges the group has."""
        return sum(self.edges_of(listener) for listener in self.blocks)

    def edges_of(self, listener: str) -> int:
        """How many block edges `listener` has: one with every other member but the left-out ones."""
        return len(self.slots) - 1 - len(self.left_out.get(listener, ()))

    def edge_ports(self) -> dict[str, tuple[str, int]]:
        """`src/dst` (its lock key without the group) -> (listener, port) of every block edge."""
        return {
            f"{listener}/{initiator}": (listener, port)
            for listener in self.blocks
            for initiator, port in self.ports_of(listener, self.slots).items()
        }

    def unused(self, listener: str) -> int:
        """Ports of `listener`'s block that no edge uses: its own slot's, free slots', the left-out pairs'."""
        return self.size() - self.edges_of(listener)

    def ports_of(self, listener: str, initiators: Iterable[str]) -> dict[str, int]:
        """initiator -> port of the block edges `listener` has with `initiators`."""
        top = self.blocks.get(listener)
        if top is None:
            return {}
        skipped = set(self.left_out.get(listener, ())) | {listener}
        return {uid: top - self.slots[uid] for uid in initiators if uid in self.slots and uid not in skipped}


@dataclass
class Assignment:
    """What assign_ports decided besides each edge's port."""

    rotating: dict[str, RotatingPorts]  # rotating group -> its slots and blocks
    kept: int  # edges whose port the lock file already gave them
    problems: list[Problem]


def lock_key(edge: Edge) -> str:
    """How an edge is named in the lock file: `group/src/dst` (uids and group names have no '/')."""
    return f"{edge.group}/{edge.src}/{edge.dst}"


def assign_ports(
    edges: list[Edge], model: Model, locked: Locked, locked_rotating: dict[str, RotatingPorts]
) -> Assignment:
    """Set `port` on every edge; a problem for each listener whose range is too small."""
    rotating = {
        name: RotatingPorts(slots=member_slots(group.members, locked_rotating.get(name)))
        for name, group in sorted(model.groups.items())
        if group.topology.kind == "rotating" and not group.disabled
    }
    own: dict[str, list[Edge]] = {}  # listener -> its edges with a port of their own
    single, block_edges = split_edges(edges, rotating)
    for edge in single:
        own.setdefault(edge.listener, []).append(edge)
    sizes = {name: ports.size() for name, ports in rotating.items()}
    blocks: dict[str, dict[str, int]] = {}  # listener -> group -> block size
    for name, listener in block_edges:
        blocks.setdefault(listener, {})[name] = sizes[name]
    kept, problems = 0, []
    for listener in sorted(own.keys() | blocks.keys()):
        host = model.hosts[listener]
        placed = _place(host, own.get(listener, []), blocks.get(listener, {}), locked, locked_rotating)
        if isinstance(placed, Problem):
            problems.append(placed)
            continue
        tops, kept_here = placed
        kept += kept_here
        for name, top in tops.items():
            rotating[name].blocks[listener] = top
    same_slots = {name: _same_slots(ports, locked_rotating.get(name)) for name, ports in rotating.items()}
    for (name, listener), run in block_edges.items():
        ports = rotating[name]
        top = ports.blocks.get(listener)
        if top is None:  # the listener's range is exhausted: reported above
            continue
        slots = ports.slots
        for edge in run:
            edge.port = top - slots[edge.initiator]
        if len(run) < len(slots) - 1:
            linked = {edge.initiator for edge in run} | {listener}
            ports.left_out[listener] = sorted(slots.keys() - linked)
        kept += _kept_in_block(listener, run, ports, locked_rotating.get(name), same_slots[name])
    return Assignment(rotating, kept, problems)


def locked_ports(edges: list[Edge], rotating: dict[str, RotatingPorts]) -> Locked:
    """The lock content for the edges with a port of their own: listener -> {lock key: port} (the blocks
    of rotating groups are recorded by `rotating`)."""
    result: dict[str, dict[str, int]] = {}
    for edge in split_edges(edges, rotating)[0]:
        result.setdefault(edge.listener, {})[lock_key(edge)] = edge.port
    return result


def split_edges(
    edges: list[Edge], rotating: Collection[str]
) -> tuple[list[Edge], dict[tuple[str, str], list[Edge]]]:
    """(edges with a port of their own in order, (group, listener) -> the edges of its block) of `edges`,
    sorted by (group, src). A rotating group's edges are taken a sender at a time, not one by one: all the
    edges of a sender are forward (it is behind NAT) or none are."""
    single: list[Edge] = []
    blocks: dict[tuple[str, str], list[Edge]] = {}
    for name, start, end in runs(edges, "group"):
        if name not in rotating:
            single.extend(edges[start:end])
            continue
        for src, first, last in runs(edges, "src", start, end):
            if edges[first].mode == "forward":
                single.extend(edges[first:last])
            else:
                blocks[(name, src)] = edges[first:last]
    return single, blocks


def member_slots(members: tuple[str, ...], locked: RotatingPorts | None) -> dict[str, int]:
    """member -> slot: the locked slot of each member still there, the lowest free slots for the others."""
    slots = {uid: slot for uid, slot in (locked.slots.items() if locked else ()) if uid in members}
    taken = set(slots.values())
    free = (slot for slot in range(len(members) + len(taken)) if slot not in taken)
    slots.update((uid, next(free)) for uid in members if uid not in slots)
    return dict(sorted(slots.items()))


def _same_slots(ports: RotatingPorts, locked: RotatingPorts | None) -> set[str]:
    """The members whose slot the lock file already gave them."""
    return {uid for uid, slot in ports.slots.items() if locked and locked.slots.get(uid) == slot}


def _kept_in_block(
    listener: str, run: list[Edge], ports: RotatingPorts, locked: RotatingPorts | None, same: set[str]
) -> int:
    """How many of a block's edges keep the port the lock gave them: the block's top and the initiator's
    slot unchanged, and the edge recorded (not left out) before."""
    if locked is None or locked.blocks.get(listener) != ports.blocks[listener]:
        return 0
    if len(run) == len(ports.slots) - 1 and listener not in locked.left_out:  # every member: no need to look
        return len(same - {listener})
    skipped = set(locked.left_out.get(listener, ()))
    return sum(1 for edge in run if edge.initiator in same and edge.initiator not in skipped)


def _place(
    host: Host,
    own: list[Edge],
    blocks: dict[str, int],
    locked: Locked,
    locked_rotating: dict[str, RotatingPorts],
) -> tuple[dict[str, int], int] | Problem:
    """Ports of one listener: (block top per rotating group, edges kept from the lock), ports set on `own`.

    Order: blocks kept from the lock, then ports of their own kept from it, then new blocks (the highest run
    that fits), then the lowest free ports for the other edges."""
    low, high = host.port_range
    size = high - low + 1
    needed = len(own) + sum(blocks.values())
    if needed > size:
        return _exhausted(host, needed, blocks, f"the range {low}-{high} has {size} ports")
    taken = _Taken()
    tops: dict[str, int] = {}
    for name, length in sorted(blocks.items()):
        previous = locked_rotating.get(name)
        top = previous.blocks.get(host.uid) if previous else None
        if (
            top is not None
            and top <= high
            and low <= top - length + 1
            and taken.free(top - length + 1, length)
        ):
            tops[name] = top
            taken.add(top - length + 1, length)
    previous_ports = locked.get(host.uid, {})
    fresh, kept = [], 0
    for edge in own:
        port = previous_ports.get(lock_key(edge))
        if port is not None and low <= port <= high and taken.free(port, 1):
            edge.port = port
            taken.add(port, 1)
            kept += 1
        else:
            fresh.append(edge)
    for name, length in sorted(blocks.items()):
        if name not in tops:
            start = taken.last_fit(low, high, length)
            if start is None:
                run = f"no run of {length} free ports for mesh group {name}'s block in {low}-{high}"
                return _exhausted(host, needed, blocks, run + " (ports kept by the lock file are in the way)")
            tops[name] = start + length - 1
            taken.add(start, length)
    for edge in fresh:
        edge.port = taken.first_fit(low)
        taken.add(edge.port, 1)
    return tops, kept


def _exhausted(host: Host, needed: int, blocks: dict[str, int], why: str) -> Problem:
    per_block = ", a block of one per member for each rotating group" if blocks else ""
    return host.problem(
        "syntraf_listen_port_range",
        f"port exhaustion: {needed} listeners needed (one per edge it listens for{per_block}) but {why}",
    )


class _Taken:
    """The ports of one listener's range in use, as sorted disjoint runs [start, end); adjacent runs merge,
    so ports handed out one after another stay one run."""

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []

    def free(self, start: int, length: int) -> bool:
        index = bisect_left(self.ends, start + 1)  # the first run ending after `start`
        return index == len(self.starts) or self.starts[index] >= start + length

    def add(self, start: int, length: int) -> None:
        """Mark [start, start + length) in use; the caller checked it is free."""
        index = bisect_left(self.starts, start)
        end = start + length
        if index < len(self.starts) and self.starts[index] == end:  # joins the next run
            end = self.ends[index]
            del self.starts[index], self.ends[index]
        if index and self.ends[index - 1] == start:  # joins the previous run
            self.ends[index - 1] = end
        else:
            self.starts.insert(index, start)
            self.ends.insert(index, end)

    def first_fit(self, low: int) -> int:
        """The lowest free port from `low`; the caller checked the range has one."""
        start = low
        for run_start, run_end in zip(self.starts, self.ends):
            if run_start > start:
                break
            start = max(start, run_end)
        return start

    def last_fit(self, low: int, high: int, length: int) -> int | None:
        """The highest start of `length` free ports within [low, high], None if there is none."""
        end = high + 1
        for run_start, run_end in zip(reversed(self.starts), reversed(self.ends)):
            if end - run_end >= length:
                break
            end = min(end, run_start)
        return end - length if end - length >= low else None
