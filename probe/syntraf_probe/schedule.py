"""The rotating schedule of a mesh group: which of its edges run now, decided by the clock alone.

There is no control channel: every probe of the group has the same schedule in its config (the members in
one order, k peers, the epoch length and origin), so they all switch at the same epoch boundaries. It is a
circulant: in epoch e, member i sends to the members at offsets e*k+1 ... e*k+k (modulo N-1, plus 1) after
it in the member list, so every host sends to exactly k peers and receives from exactly k at every epoch,
and any ceil((N-1)/k) consecutive epochs use every offset 1..N-1, i.e. measure every ordered pair.
syntraf-ctl imports this module for its plan, so the plan and the probes cannot disagree.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Optional, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Schedule:
    epoch_seconds: int
    origin: int  # Unix time of the start of epoch 0
    peers: int  # k, at most len(members) - 1
    members: tuple[str, ...]  # every member of the group, in the schedule's order

    def epoch(self, now: float) -> int:
        """The epoch at Unix time `now`."""
        return math.floor((now - self.origin) / self.epoch_seconds)

    def next_switch(self, now: float) -> float:
        """Unix time of the next epoch boundary after `now`."""
        return self.origin + (self.epoch(now) + 1) * self.epoch_seconds

    def pairs_of(self, host: str, epoch: int) -> set[tuple[str, str]]:
        """The (src, dst) pairs that `host` sends or receives in `epoch`: k out and k in."""
        n, i = len(self.members), self.members.index(host)
        pairs = set()
        for d in offsets(epoch, n, self.peers):
            pairs.add((host, self.members[(i + d) % n]))
            pairs.add((self.members[(i - d) % n], host))
        return pairs

    def active_pairs(self, epoch: int) -> set[tuple[str, str]]:
        """Every (src, dst) that runs in `epoch`: N*k pairs."""
        n = len(self.members)
        return {
            (self.members[i], self.members[(i + d) % n])
            for d in offsets(epoch, n, self.peers)
            for i in range(n)
        }


def offsets(epoch: int, members: int, peers: int) -> frozenset[int]:
    """The k distinct offsets (1..N-1) measured in `epoch`: k consecutive ones, wrapping past N-1."""
    if members < 2:
        return frozenset()
    return frozenset(1 + (epoch * peers + j) % (members - 1) for j in range(min(peers, members - 1)))


def epochs_to_cover(members: int, peers: int) -> int:
    """Epochs in which every ordered pair of the group is measured at least once: ceil((N-1)/k)."""
    return math.ceil((members - 1) / peers) if members > 1 else 0


def running(edges: Sequence[T], schedule: Optional[Schedule], host: str, now: float) -> list[T]:
    """The edges (anything with `src` and `dst`) that `host` runs at Unix time `now`: all of them without
    a schedule."""
    if schedule is None:
        return list(edges)
    pairs = schedule.pairs_of(host, schedule.epoch(now))
    return [edge for edge in edges if (edge.src, edge.dst) in pairs]
