"""What the probes stored against what the WAN lab's emulator did, per edge: the truth tests and the soak
benchmark compare the two.

An edge's datagrams cross the core as one UDP flow per test between the sender's and the receiver's
addresses as seen there (a NAT site's router address), with the edge's listener port at one end.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from syntraf_ctl.lab.state import LabState
from syntraf_ctl.lab.tsdb import export
from syntraf_ctl.lab.wan.topology import seen_as
from syntraf_ctl.mesh import Edge

EdgeKey = tuple[str, str, str]  # (group, src, dst)


@dataclass
class Stored:
    """An edge's points in a time window."""

    points: int = 0
    outages: int = 0  # points with up=0
    lost: float = 0.0
    packets: float = 0.0
    out_of_order: float = 0.0  # written on a test's last point: its reordered and duplicated datagrams
    first_outage: float | None = None  # time of the first up=0 point


def stored(db_url: str, since: float, until: float) -> dict[EdgeKey, Stored]:
    """The points stamped in [since, until], summed per edge (the lab's VictoriaMetrics)."""
    values = (
        ((series.labels["group"], series.labels["src"], series.labels["dst"]), series.name, time, value)
        for series in export(db_url, '{__name__=~"syntraf_(up|lost|packets|out_of_order)"}', start=since - 1)
        for time, value in series.points
    )
    return summed(values, since, until)


def summed(
    values: Iterable[tuple[EdgeKey, str, float, float]], since: float, until: float
) -> dict[EdgeKey, Stored]:
    """Per edge, the (edge, series `syntraf_<field>`, time, value) stamped in [since, until]."""
    found: dict[EdgeKey, Stored] = {}
    for key, name, time, value in values:
        edge = found.setdefault(key, Stored())
        if not since <= time <= until:
            continue
        if name == "syntraf_up":
            edge.points += 1
            if value == 0:
                edge.outages += 1
                edge.first_outage = time if edge.first_outage is None else min(edge.first_outage, time)
        else:
            name = name.removeprefix("syntraf_")
            setattr(edge, name, getattr(edge, name) + value)
    return found


def drops(state: LabState, reply: dict, edges: list[Edge]) -> dict[EdgeKey, int]:
    """Datagrams of each edge the emulator dropped, from a `show` reply (counters since `lab up`)."""
    flows: dict[tuple[str, str], list[dict]] = {}
    for flow in reply["flows"]:
        if flow["protocol"] == "udp":
            flows.setdefault((flow["source"], flow["destination"]), []).append(flow)
    result = {}
    for edge in edges:
        between = flows.get((seen_as(state, edge.src), seen_as(state, edge.dst)), [])
        result[edge.key] = sum(
            flow["dropped"]
            for flow in between
            if edge.port in (flow["source_port"], flow["destination_port"])
        )
    return result


def rtt_ms(state: LabState, edge: Edge) -> float:
    """The edge's round-trip time as set on its links (0 within a site)."""
    src, dst = state.host(edge.src).site, state.host(edge.dst).site
    if src == dst:
        return 0.0
    return float(state.wan[f"{src}>{dst}"]["delay_ms"] + state.wan[f"{dst}>{src}"]["delay_ms"])
