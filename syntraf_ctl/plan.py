"""The plan: edges with ports, per-host and mesh totals, warnings; as JSON (docs/plan-json.md) or text."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from syntraf_ctl.changes import Changes, compare
from syntraf_ctl.costs import concurrent_flows, edge_counts, group_coverage, group_spans, host_coverage
from syntraf_ctl.edge_tables import edge_tables
from syntraf_ctl.lockfile import LockState
from syntraf_ctl.mesh import Edge, edges_by_group
from syntraf_ctl.messages import name_list
from syntraf_ctl.model import Model
from syntraf_ctl.ports import Locked, RotatingPorts, locked_ports

PLAN_SCHEMA = 2  # 2: a rotating group's edges as tables in its group, not in `edges`
HEADER_BYTES = 28  # IPv4 (20) + UDP (8) per packet, for the on-the-wire estimate
LARGE_GROUP_BPS = 1_000_000_000  # warn when a group's mesh sends this much payload in total


@dataclass
class HostTotals:
    send_bps: int = 0
    receive_bps: int = 0
    wire_send_bps: int = 0
    wire_receive_bps: int = 0
    listeners: int = 0
    ports: int = 0  # of its range, in use: one per edge it listens for, a whole block per rotating group
    flows_sent: int = 0  # edges it sends that run at a time (a rotating group runs k of them)
    flows_received: int = 0


@dataclass
class Plan:
    """A validated mesh with every edge's port: what `plan` prints and `render` writes."""

    model: Model
    edges: list[Edge]
    lock_path: str
    ports_from_lock: int = 0  # edges whose port the lock file already held (text output only: render's
    # plan.json must not change between a first render and the next)
    warnings: list[str] = field(default_factory=list)
    iperf3_versions: dict[str, str] = field(default_factory=dict)  # inventory hostname -> "3.12", as
    # Ansible runs reported them (recorded in the lock file)
    previous: LockState | None = None  # what the lock file recorded; None when there is none yet
    alerts: dict[str, Any] = field(default_factory=dict)  # enabled group -> its alert Thresholds
    pack_hosts: list[str] = field(default_factory=list)  # hosts of syntraf_grafana and syntraf_alerting
    rotating_ports: dict[str, RotatingPorts] = field(default_factory=dict)  # rotating group -> its slots
    # and listener blocks (syntraf_ctl.ports)

    def host_totals(self) -> dict[str, HostTotals]:
        """What each host sends and receives at a time, and the listeners (ports) it needs."""
        totals = {uid: HostTotals() for uid in self.model.hosts}
        for (group, uid), (sent, received) in concurrent_flows(self.model, self.edges).items():
            traffic, total = self.model.groups[group].traffic, totals[uid]
            total.flows_sent += sent
            total.flows_received += received
            total.send_bps += sent * traffic.bandwidth_bps
            total.receive_bps += received * traffic.bandwidth_bps
            total.wire_send_bps += sent * traffic_wire_bps(traffic)
            total.wire_receive_bps += received * traffic_wire_bps(traffic)
        for (_, uid), (_, _, listens) in edge_counts(self.model, self.edges).items():
            totals[uid].listeners += listens
            totals[uid].ports += listens
        for rotation in self.rotating_ports.values():
            for listener in rotation.blocks:
                totals[listener].ports += rotation.unused(listener)
        return totals

    def host_groups(self) -> dict[str, list[str]]:
        """uid -> the enabled mesh groups it is a member of, sorted."""
        result: dict[str, list[str]] = defaultdict(list)
        for name in sorted(self.model.groups):
            group = self.model.groups[name]
            if not group.disabled:
                for uid in group.members:
                    result[uid].append(name)
        return result

    def locked_ports(self) -> Locked:
        return locked_ports(self.edges, self.rotating_ports)

    def changes(self) -> Changes:
        """What rendering this plan changes against the lock file."""
        return compare(self.previous, self.lock_state())

    def lock_state(self) -> LockState:
        """What render and apply record in the lock file."""
        enabled = {name: group for name, group in sorted(self.model.groups.items()) if not group.disabled}
        return LockState(
            self.locked_ports(),
            {name: traffic_json(group.traffic) for name, group in enabled.items()},
            {uid: self.model.hosts[uid].address for uid in sorted(self.host_groups())},
            dict(sorted(self.iperf3_versions.items())),
            self.rotating_ports,
        )

    def versions_known(self) -> bool:
        """Whether every host in a mesh group has a known iperf3 version (the deploy needs no preflight)."""
        hosts = [self.model.hosts[uid] for uid in self.host_groups()]
        return all(host.iperf3_version or host.name in self.iperf3_versions for host in hosts)

    def to_json(self) -> dict[str, Any]:
        totals = self.host_totals()
        groups_of = self.host_groups()
        coverage_of = host_coverage(self.model, self.edges)
        hosts = {}
        for uid in sorted(self.model.hosts):
            host, total = self.model.hosts[uid], totals[uid]
            low, high = host.port_range
            hosts[uid] = {
                "inventory_hostname": host.name,
                "address": host.address,
                "behind_nat": host.behind_nat,
                "groups": groups_of.get(uid, []),
                "send_bps": total.send_bps,
                "receive_bps": total.receive_bps,
                "wire_send_bps": total.wire_send_bps,
                "wire_receive_bps": total.wire_receive_bps,
                "max_bandwidth_bps": host.max_bandwidth_bps,
                "listeners": total.listeners,
                "port_range": [low, high],
                "ports_used": total.ports,
                "ports_available": high - low + 1 - total.ports,
                "flows_sent": total.flows_sent,
                "flows_received": total.flows_received,
                "iperf3_processes": total.flows_sent + total.flows_received,
                "coverage": coverage_of.get(uid, {}),
            }
        groups = {}
        group_load = self._group_load()
        by_group = edges_by_group(self.edges)
        listed = []
        for name in sorted(self.model.groups):
            group = self.model.groups[name]
            edges = by_group.get(name, [])
            tables = group.topology.kind == "rotating" and not group.disabled
            if not tables:
                listed.extend(edges)
            groups[name] = {
                "disabled": group.disabled,
                "profile": group.profile,
                "members": list(group.members),
                **traffic_json(group.traffic),
                "edges": group_load[name][0],
                "payload_bps": group_load[name][1],
                "topology": group.topology.to_json(),
                "flows": group_load[name][2],
                "iperf3_processes": 2 * group_load[name][2],
                "coverage": group_coverage(self.model, name, group_load[name][0]),
                **(edge_tables_json(group.members, edges, self.model.hosts) if tables else {}),
            }
        return {
            "schema": PLAN_SCHEMA,
            "groups": groups,
            "edges": [edge_json(edge) for edge in listed],
            "hosts": hosts,
            "idle_hosts": list(self.model.idle_hosts),
            "totals": {
                "groups": sum(1 for g in self.model.groups.values() if not g.disabled),
                "hosts": sum(1 for uid in hosts if groups_of.get(uid)),
                "edges": len(self.edges),
                "payload_bps": sum(t.send_bps for t in totals.values()),
                "wire_bps": sum(t.wire_send_bps for t in totals.values()),
                "listeners": len(self.edges),
            },
            "warnings": list(self.warnings),
        }

    def _group_load(self) -> dict[str, tuple[int, int, int]]:
        """group -> (edges, payload bit/s at a time, flows at a time)."""
        load: dict[str, list[int]] = {name: [0, 0, 0] for name in self.model.groups}
        for name, (start, end) in group_spans(self.edges).items():
            load[name][0] = end - start
        for (group, _), (sent, _) in concurrent_flows(self.model, self.edges).items():
            load[group][1] += sent * self.model.groups[group].traffic.bandwidth_bps
            load[group][2] += sent
        return {name: (count, bps, flows) for name, (count, bps, flows) in load.items()}

    def large_group_warnings(self) -> list[str]:
        return [
            f"mesh group {name}: the whole mesh sends {format_bps(bps)} of payload over {count} edges"
            for name, (count, bps, _) in sorted(self._group_load().items())
            if bps >= LARGE_GROUP_BPS
        ]

    def to_text(self) -> str:
        data = self.to_json()
        lines = []
        totals = data["totals"]
        lines.append(
            f"{totals['edges']} edges in {totals['groups']} mesh group(s) over {totals['hosts']} hosts: "
            f"{format_bps(totals['payload_bps'])} payload, {format_bps(totals['wire_bps'])} on the wire"
        )
        lines.append(
            f"ports: {self.ports_from_lock} kept from the lock file, "
            f"{len(self.edges) - self.ports_from_lock} newly assigned (render and apply record them)"
        )
        lines.append("")
        lines.append("mesh groups:")
        for name, group in data["groups"].items():
            state = "  (disabled)" if group["disabled"] else ""
            lines.append(
                f"  {name:<16} {len(group['members']):>4} hosts {group['edges']:>6} edges  "
                f"{format_bps(group['bandwidth_bps'])}/edge, {group['packet_size']} B x "
                f"{group['packets_per_second']:g} pps, dscp {group['dscp']}, "
                f"every {group['interval']:g} s{state}"
            )
        lines.append("")
        lines.append(
            "hosts:                       send      receive  wire send  wire recv  listeners  ports free"
        )
        for uid, host in data["hosts"].items():
            nat = " (NAT)" if host["behind_nat"] else ""
            lines.append(
                f"  {uid + nat:<22} {format_bps(host['send_bps']):>10} {format_bps(host['receive_bps']):>12} "
                f"{format_bps(host['wire_send_bps']):>10} {format_bps(host['wire_receive_bps']):>10} "
                f"{host['listeners']:>10} {host['ports_available']:>11}"
            )
        lines.extend(shape_text(data))
        lines.append("")
        lines.append(self.changes().to_text().rstrip("\n"))
        if data["idle_hosts"]:
            lines.append("")
            lines.append(f"hosts in no mesh group: {name_list(data['idle_hosts'])}")
        if data["warnings"]:
            lines.append("")
            lines.append("warnings:")
            lines.extend(f"  - {warning}" for warning in data["warnings"])
        return "\n".join(lines) + "\n"


def wire_bps(edge: Edge) -> int:
    """Payload plus IPv4/UDP headers of every packet."""
    return traffic_wire_bps(edge.traffic)


def traffic_wire_bps(traffic: Any) -> int:
    """One flow's payload plus IPv4/UDP headers of every packet."""
    return round(traffic.bandwidth_bps + traffic.packets_per_second * HEADER_BYTES * 8)


def traffic_json(traffic: Any) -> dict[str, Any]:
    return {
        "bandwidth_bps": traffic.bandwidth_bps,
        "packet_size": traffic.packet_size,
        "packets_per_second": traffic.packets_per_second,
        "dscp": traffic.dscp,
        "interval": traffic.interval,
    }


def edge_json(edge: Edge) -> dict[str, Any]:
    return {
        "group": edge.group,
        "src": edge.src,
        "dst": edge.dst,
        "listener": edge.listener,
        "initiator": edge.initiator,
        "mode": edge.mode,
        "port": edge.port,
        "connect_address": edge.connect_address,
        **traffic_json(edge.traffic),
    }


def edge_tables_json(members: tuple[str, ...], edges: list[Edge], hosts: dict[str, Any]) -> dict[str, Any]:
    """A rotating group's edges (N(N-1) of them) as rows of ports over its members, and the exceptions."""
    tables = edge_tables(members, edges, hosts)
    return {
        "ports": tables.ports,
        "connect_addresses": [[e.src, e.dst, e.connect_address] for e in tables.redirected],
    }


def format_bps(bps: float) -> str:
    for unit, scale in (("Gbit/s", 1e9), ("Mbit/s", 1e6), ("kbit/s", 1e3)):
        if bps >= scale:
            return f"{bps / scale:.3g} {unit}"
    return f"{bps:g} bit/s"


def shape_text(data: dict[str, Any]) -> list[str]:
    """The plan text's section on what each group's shape costs and covers, per group and per host."""
    lines = ["", "shapes (flows and iperf3 processes running at a time; pairs: ordered pairs measured):"]
    for name, group in data["groups"].items():
        if group["disabled"]:
            continue
        coverage, topology = group["coverage"], group["topology"]
        settings = ", ".join(f"{key} {_brief(value)}" for key, value in topology.items() if key != "kind")
        cycle = (
            f", every pair within {coverage['epochs']} epochs ({coverage['cycle_seconds']} s)"
            if coverage["epochs"] is not None
            else ""
        )
        lines.append(
            f"  {name:<16} {topology['kind']}{f' ({settings})' if settings else ''}: {group['flows']} flows, "
            f"{group['iperf3_processes']} iperf3, {format_bps(group['payload_bps'])}; "
            f"pairs {coverage['pairs']} of {coverage['of']}{cycle}"
        )
    lines.append(
        "  host                    flows out  flows in   iperf3       send    receive  pairs (group)"
    )
    for uid, host in data["hosts"].items():
        pairs = ", ".join(f"{c['pairs']}/{c['of']} {group}" for group, c in host["coverage"].items())
        lines.append(
            f"  {uid:<22} {host['flows_sent']:>10} {host['flows_received']:>9} {host['iperf3_processes']:>8} "
            f"{format_bps(host['send_bps']):>10} {format_bps(host['receive_bps']):>10}  {pairs}"
        )
    return lines


def _brief(value: Any) -> str:
    """A topology setting in one short phrase: sites by size, hubs by name."""
    if isinstance(value, dict):
        return " ".join(f"{name}:{len(members)}" for name, members in value.items())
    if isinstance(value, list):
        return name_list(value)
    return str(value)
