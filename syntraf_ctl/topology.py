"""The shape of a mesh group: which of its pairs measure each other, and for a rotating group, when.

- `full`: every pair (the default).
- `hub_and_spoke`: every pair with at least one hub (hubs with spokes, hubs with hubs), never two spokes.
- `sites`: every pair inside a site, and between every two sites a few representative pairs, ranked by a
  hash of the pair alone: adding a host adds candidates that may displace a chosen pair, but never makes two
  other hosts' pair appear or reorders the rest (Pingmesh's inter-rack pairing, made stable).
- `rotating`: every pair has its edges (and ports) but only k peers per host run at a time, switched by the
  clock (syntraf_probe.schedule).
Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Iterable
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


def measured_pairs(group: str, members: tuple[str, ...], topology: Topology) -> Iterable[tuple[str, str]]:
    """The unordered pairs (a, b), a before b in `members`, that measure each other in `group` under
    `topology`, in member order. Generated, not filtered out of every pair: a 1,000-host sites group keeps
    about 5% of its half a million pairs."""
    if topology.kind == "hub_and_spoke":
        hubs = topology.hubs
        return ((a, b) for a, b in combinations(members, 2) if a in hubs or b in hubs)
    if topology.kind == "sites":
        position = {uid: index for index, uid in enumerate(members)}
        pairs = [pair for _, uids in topology.sites for pair in combinations(uids, 2)]
        pairs += representative_pairs(group, topology.sites, topology.site_pairs)
        ordered = [(a, b) if position[a] < position[b] else (b, a) for a, b in pairs]
        return sorted(ordered, key=lambda pair: (position[pair[0]], position[pair[1]]))
    return combinations(members, 2)


def representative_pairs(
    group: str, sites: tuple[tuple[str, tuple[str, ...]], ...], count: int
) -> set[tuple[str, str]]:
    """Between every two sites, the `count` cross pairs (a, b), a from the earlier site, of smallest rank.

    A pair's rank is (the larger, the smaller) of its two hosts' hashes, each a hash of the group, the two
    sites and the host: it depends on the pair alone, each two sites pick their own representatives (the
    load spreads over a site's hosts), and the best pairs are among the `count` best hosts of either site,
    so only those are ranked (count² pairs, not every cross pair)."""
    chosen: set[tuple[str, str]] = set()
    for (first_name, first), (second_name, second) in combinations(sites, 2):
        hashed = [
            heapq.nsmallest(
                count, ((site_pair_hash(group, first_name, second_name, uid), uid) for uid in uids)
            )
            for uids in (first, second)
        ]
        ranked = ((max(ha, hb), min(ha, hb), a, b) for ha, a in hashed[0] for hb, b in hashed[1])
        chosen.update((a, b) for _, _, a, b in heapq.nsmallest(count, ranked))
    return chosen


def site_pair_hash(group: str, first: str, second: str, uid: str) -> int:
    """The hash of host `uid` that ranks its pairs between sites `first` and `second` of `group`."""
    key = f"{group}\0{first}\0{second}\0{uid}".encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big")


def schedule(members: tuple[str, ...], topology: Topology) -> Schedule | None:
    """The probes' schedule of a rotating group (None for the other kinds, and for a group of one host:
    nothing to rotate through); k is capped at N-1."""
    if topology.kind != "rotating" or len(members) < 2:
        return None
    peers = min(topology.peers, len(members) - 1)
    return Schedule(topology.epoch_seconds, EPOCH_ORIGIN, peers, tuple(members))


def shape_warnings(group: str, members: tuple[str, ...], topology: Topology) -> list[str]:
    """What is valid in a group's topology but probably not what the user meant."""
    if topology.kind == "rotating" and len(members) > 1 and topology.peers >= len(members) - 1:
        return [
            f"mesh group {group}: peers {topology.peers} with {len(members)} members: every host measures "
            f"all {len(members) - 1} others at all times (a full mesh)"
        ]
    return []
