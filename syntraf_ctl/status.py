"""What `syntraf-ctl status` shows, built from what the status playbook reported for each host (pure).

Each host reports its syntraf units, its clock and its probes' state files (docs/probe-config.md). The
receiver of an edge measures it, so a cell of a group's grid (sender row, receiver column) comes from the
receiver's state file. A rotating group runs only some of its pairs at a time: its probes keep the last
sample of the pairs they do not run now (`idle`), and status shows when each pair was last measured.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

RECEIVING_STATES = ("starting", "measuring", "outage", "backoff", "config_error", "idle")


@dataclass
class EdgeStatus:
    group: str
    src: str
    dst: str
    state: str  # the receiver's edge state, or "no data" when no receiver reported it
    loss_pct: float | None = None
    jitter_ms: float | None = None
    up: int | None = None
    age_s: float | None = None  # how old the last sample is, by the receiver's clock

    @property
    def outage(self) -> bool:
        return self.up == 0 or self.state == "outage"


@dataclass
class HostStatus:
    host: str
    reachable: bool
    error: str = ""
    units: dict[str, str] = field(default_factory=dict)  # unit -> "active/running"
    last_sample_age_s: float | None = None


@dataclass
class StatusReport:
    groups: dict[str, list[EdgeStatus]]
    hosts: list[HostStatus]
    rotating: list[str] = field(default_factory=list)  # groups that measure each pair only some of the time

    @property
    def healthy(self) -> bool:
        return all(host.reachable and not host.error for host in self.hosts)

    def to_json(self) -> dict[str, Any]:
        return {
            "groups": {name: [asdict(edge) for edge in edges] for name, edges in self.groups.items()},
            "hosts": [asdict(host) for host in self.hosts],
            "rotating": list(self.rotating),
        }


def build_report(
    results: dict[str, dict[str, Any]],
    failures: dict[str, str],
    planned: list[tuple[str, str, str]] | None = None,
    rotating: list[str] | None = None,
) -> StatusReport:
    """`results`: inventory host -> syntraf_probe_status result; `failures`: host -> why it did not report;
    `planned`: (group, src, dst) of every planned edge, so edges nobody reports show as "no data";
    `rotating`: the groups whose grid also shows when each pair was last measured."""
    edges: dict[tuple[str, str, str], EdgeStatus] = {
        key: EdgeStatus(*key, state="no data") for key in planned or []
    }
    hosts = []
    for name in sorted(set(results) | set(failures)):
        if name in failures:
            hosts.append(HostStatus(name, reachable=False, error=failures[name]))
            continue
        result = results[name]
        now = float(result.get("now", 0.0))
        newest = None
        for state in result.get("states", []):
            for edge in receiving_edges(state, now):
                edges[(edge.group, edge.src, edge.dst)] = edge
                if edge.age_s is not None:
                    newest = edge.age_s if newest is None else min(newest, edge.age_s)
        units = {unit["name"]: f"{unit['active']}/{unit['sub']}" for unit in result.get("units", [])}
        hosts.append(HostStatus(name, True, "; ".join(result.get("errors", [])), units, newest))
    groups: dict[str, list[EdgeStatus]] = {}
    for key in sorted(edges):
        groups.setdefault(key[0], []).append(edges[key])
    return StatusReport(groups, hosts, sorted(rotating or []))


def receiving_edges(state: dict[str, Any], now: float) -> list[EdgeStatus]:
    """The edges a state file's host receives (it measures them), with their last sample."""
    group = state.get("group", "?")
    found = []
    for edge in state.get("edges", []):
        if edge.get("state") not in RECEIVING_STATES:
            continue
        sample = edge.get("last_sample") or {}
        age = max(0.0, now - sample["time"]) if "time" in sample else None  # stamped at the interval's end
        found.append(
            EdgeStatus(
                group,
                edge.get("src", "?"),
                edge.get("dst", "?"),
                edge["state"],
                sample.get("loss_pct"),
                sample.get("jitter_ms"),
                sample.get("up"),
                age,
            )
        )
    return found


def format_cell(edge: EdgeStatus | None) -> str:
    if edge is None:
        return "-"
    if edge.outage:
        return "OUTAGE"
    if edge.loss_pct is None or edge.jitter_ms is None:
        return edge.state
    return f"{edge.loss_pct:.1f}% {edge.jitter_ms:.2f}ms"


def format_age(age: float | None) -> str:
    return "never" if age is None else f"{age:.0f} s ago"


def format_text(report: StatusReport) -> str:
    """Per group a grid (senders down, receivers across: last loss and jitter, OUTAGE), and for a rotating
    group a second one (how long ago each pair was last measured); then per host."""
    lines = []
    for group, edges in report.groups.items():
        lines.append(f"group {group}: last interval's loss and jitter (rows send, columns receive)")
        lines.extend(grid(edges, format_cell))
        if group in report.rotating:
            lines.append(f"group {group}: last measured (rotating: each pair runs in its epochs only)")
            lines.extend(grid(edges, lambda edge: "-" if edge is None else format_age(edge.age_s)))
    lines.append("hosts:")
    width = max((len(host.host) for host in report.hosts), default=4)
    for host in report.hosts:
        if not host.reachable:
            lines.append(f"  {host.host:<{width}}  UNREACHABLE: {host.error}")
            continue
        units = (
            ", ".join(f"{unit} {state}" for unit, state in sorted(host.units.items())) or "no syntraf unit"
        )
        error = f"; {host.error}" if host.error else ""
        lines.append(
            f"  {host.host:<{width}}  last sample {format_age(host.last_sample_age_s)}; {units}{error}"
        )
    return "\n".join(lines) + "\n"


def grid(edges: list[EdgeStatus], cell: Callable[[EdgeStatus | None], str]) -> list[str]:
    """A grid of `cell` of each edge, senders down and receivers across, and a blank line."""
    by_pair = {(edge.src, edge.dst): edge for edge in edges}
    senders = sorted({edge.src for edge in edges})
    receivers = sorted({edge.dst for edge in edges})
    cells = [[cell(by_pair.get((src, dst))) for dst in receivers] for src in senders]
    first = max([len("sender \\ receiver"), *map(len, senders)])
    widths = [max([len(dst), *(len(row[i]) for row in cells)]) for i, dst in enumerate(receivers)]
    lines = []
    for label, row in [("sender \\ receiver", receivers), *zip(senders, cells)]:
        padded = [label.ljust(first), *(text.ljust(width) for text, width in zip(row, widths))]
        lines.append(("  " + "  ".join(padded)).rstrip())
    return [*lines, ""]
