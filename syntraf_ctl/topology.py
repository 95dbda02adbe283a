"""The shape of a mesh group: which of its pairs measure each other, and for a rotating group, when.

- `full`: every pair (the default).
- `hub_and_spoke`: every pair with at least one hub (hubs with spokes, hubs with hubs), never two spokes.
- `sites`: every pair inside a site, and between every two sites a few representative pairs, chosen by a
  hash of the pair alone: adding a host adds candidates that may displace a chosen pair, but never makes two
  other hosts' pair appear or reorders the rest (Pingmesh's inter-rack pairing, made stable).
- `rotating`: every pair has its edges (and ports) but only k peers per host run at a time, switched by the
  clock (syntraf_probe.schedule).
Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Callable
from dataclasses import dataclass
from itertools import combinations

from syntraf_probe.schedule import Schedule

KINDS = ("full", "hub_and_spoke", "sites", "rotating")
EPOCH_ORIGIN = 0  # every rotating group's epochs count from the Unix epoch: probes need only their clock


@dataclass(frozen=True)
class Topology:
    kind: str = "full"
    hubs: frozenset[str] = frozenset()  # hub_and_spoke: uids of the hubs
    sites: tuple[tuple[str, tuple[str, ...]], ...] = ()  # sites: (site name, member uids), by name
    site_pairs: int = 1  # sites: representative pairs between every two sites
    peers: int = 0  # rotating: k
    epoch_seconds: int = 0  # rotating: how long one set of peers runs

    def to_json(self) -> dict[str, object]:
        """The settings of this kind, as the plan shows them."""
        if self.kind == "hub_and_spoke":
            return {"kind": self.kind, "hubs": sorted(self.hubs)}
        if self.kind == "sites":
            sites = {name: list(uids) for name, uids in self.sites}
            return {"kind": self.kind, "sites": sites, "pairs": self.site_pairs}
        if self.kind == "rotating":
            return {"kind": self.kind, "peers": self.peers, "epoch": self.epoch_seconds}
        return {"kind": self.kind}


FULL = Topology()


def pair_filter(group: str, topology: Topology) -> Callable[[str, str], bool]:
    """Whether the (unordered) pair of uids a, b measures each other in `group` under `topology`."""
    if topology.kind == "hub_and_spoke":
        hubs = topology.hubs
        return lambda a, b: a in hubs or b in hubs
    if topology.kind == "sites":
        site_of = {uid: name for name, uids in topology.sites for uid in uids}
        chosen = representative_pairs(group, topology.sites, topology.site_pairs)
        chosen |= {(b, a) for a, b in chosen}
        return lambda a, b: site_of[a] == site_of[b] or (a, b) in chosen
    return lambda a, b: True


def representative_pairs(
    group: str, sites: tuple[tuple[str, tuple[str, ...]], ...], count: int
) -> set[tuple[str, str]]:
    """Between every two sites, the `count` cross pairs (a, b), a from the earlier site, of smallest rank."""
    seed = {uid: _hash(group, uid) for _, uids in sites for uid in uids}
    chosen: set[tuple[str, str]] = set()
    for (_, first), (_, second) in combinations(sites, 2):
        candidates = ((a, b) for a in first for b in second)
        chosen.update(heapq.nsmallest(count, candidates, key=lambda p: _rank(seed[p[0]], seed[p[1]])))
    return chosen


def _hash(group: str, uid: str) -> int:
    return int.from_bytes(hashlib.blake2b(f"{group}\0{uid}".encode(), digest_size=8).digest(), "big")


def _rank(a: int, b: int) -> tuple[int, int]:
    """A pseudo-random order of pairs that depends on the pair alone (either way round): a hash of each
    host, mixed (a multiply of 64-bit values), ties broken by the hashes themselves."""
    low, high = min(a, b), max(a, b)
    return ((low * 0x9E3779B97F4A7C15 ^ high) * 0xBF58476D1CE4E5B9) & (2**64 - 1), low ^ high


def schedule(members: tuple[str, ...], topology: Topology) -> Schedule | None:
    """The probes' schedule of a rotating group (None for the other kinds); k is capped at N-1."""
    if topology.kind != "rotating":
        return None
    peers = max(1, min(topology.peers, len(members) - 1))
    return Schedule(topology.epoch_seconds, EPOCH_ORIGIN, peers, tuple(members))


def shape_warnings(group: str, members: tuple[str, ...], topology: Topology) -> list[str]:
    """What is valid in a group's topology but probably not what the user meant."""
    if topology.kind == "rotating" and len(members) > 1 and topology.peers >= len(members) - 1:
        return [
            f"mesh group {group}: peers {topology.peers} with {len(members)} members: every host measures "
            f"all {len(members) - 1} others at all times (a full mesh)"
        ]
    return []
