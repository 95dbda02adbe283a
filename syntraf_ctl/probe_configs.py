"""Each host's probe config per mesh group, built from the probe's own types (syntraf_probe.config): the
probe owns the schema, the controller fills it in from the plan. The plan JSON (plan.py) is a separate,
user-facing document with forms of its own; the two share only the reading of a rotating group's edges
into tables (syntraf_ctl.edge_tables), so neither builds an object per edge of such a group."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from syntraf_probe.config import Config, Database, Echo, Edge, GroupTable, Iperf3Settings, PeerTable, Spool
from syntraf_probe.config_json import with_revision
from syntraf_probe.schedule import Schedule

from syntraf_ctl import mesh
from syntraf_ctl.assets import host_layout
from syntraf_ctl.auth.scope import probe_auth
from syntraf_ctl.edge_tables import edge_tables
from syntraf_ctl.model import Host, MeshGroup
from syntraf_ctl.plan import Plan
from syntraf_ctl.topology import schedule as rotation_of

CONNECT_TIMEOUT_MS = 3000


def probe_configs(plan: Plan) -> dict[tuple[str, str], Config]:
    """(host uid, group) -> the probe config of that host in that group."""
    hosts = plan.model.hosts
    configs = {}
    for name, edges in _enabled_groups(plan):
        group = plan.model.groups[name]
        rotation = rotation_of(group.members, group.topology)
        if rotation is None:
            listed = _listed_edges(edges, hosts)
            parts: dict[str, dict[str, Any]] = {
                uid: {"listed_edges": tuple(listed[uid])} for uid in group.members
            }
        else:
            group_table, peer_tables = rotating_tables(group, edges, hosts)
            parts = {
                uid: {"schedule": rotation, "group_table": group_table, "peer_table": peer_tables[uid]}
                for uid in group.members
            }
        for uid in group.members:
            configs[(uid, name)] = probe_config(hosts[uid], name, group.echo, **parts[uid])
    return configs


def _enabled_groups(plan: Plan) -> list[tuple[str, list[mesh.Edge]]]:
    by_group = mesh.edges_by_group(plan.edges)
    groups = plan.model.groups
    return [(name, by_group.get(name, [])) for name in sorted(groups) if not groups[name].disabled]


def _listed_edges(edges: list[mesh.Edge], hosts: dict[str, Host]) -> dict[str, list[Edge]]:
    """uid -> the probe edges it sends or receives."""
    result: dict[str, list[Edge]] = defaultdict(list)
    for edge in edges:
        entry = probe_edge(edge, hosts)
        result[edge.src].append(entry)
        result[edge.dst].append(entry)
    return result


def rotating_tables(
    group: MeshGroup, edges: list[mesh.Edge], hosts: dict[str, Host]
) -> tuple[GroupTable, dict[str, PeerTable]]:
    """A rotating group's table (the same object in every member's config) and each member's peer table."""
    tables = edge_tables(group.members, edges, hosts)
    traffic = group.traffic
    group_table = GroupTable(
        addresses=tuple(hosts[uid].address for uid in group.members),
        behind_nat=tuple(uid for uid in group.members if hosts[uid].behind_nat),
        bandwidth_bps=traffic.bandwidth_bps,
        packet_size=traffic.packet_size,
        packets_per_second=traffic.packets_per_second,
        dscp=traffic.dscp,
        interval=traffic.interval,
    )
    pkcs1, connect = defaultdict(list), defaultdict(list)
    for edge in tables.pkcs1:
        for uid in (edge.src, edge.dst):
            pkcs1[uid].append((edge.src, edge.dst))
    for edge in tables.redirected:
        for uid in (edge.src, edge.dst):
            connect[uid].append((edge.src, edge.dst, edge.connect_address))
    ports_in = list(zip(*tables.ports))  # the matrix turned: [j][i] is the port of members[i] -> members[j]
    peer_tables = {
        uid: PeerTable(tuple(tables.ports[i]), ports_in[i], tuple(pkcs1[uid]), tuple(connect[uid]))
        for i, uid in enumerate(group.members)
    }
    return group_table, peer_tables


def probe_edge(edge: mesh.Edge, hosts: dict[str, Host]) -> Edge:
    """A planned edge as the probe runs it: with both addresses and the PKCS#1 flag."""
    traffic = edge.traffic
    return Edge(
        group=edge.group,
        src=edge.src,
        dst=edge.dst,
        listener=edge.listener,
        initiator=edge.initiator,
        mode=edge.mode,
        port=edge.port,
        connect_address=edge.connect_address,
        src_address=hosts[edge.src].address,
        dst_address=hosts[edge.dst].address,
        bandwidth_bps=traffic.bandwidth_bps,
        packet_size=traffic.packet_size,
        packets_per_second=traffic.packets_per_second,
        dscp=traffic.dscp,
        interval=traffic.interval,
        pkcs1_padding=edge.pkcs1_padding,
    )


def probe_config(
    host: Host,
    group: str,
    echo: dict | None,
    listed_edges: tuple[Edge, ...] = (),
    schedule: Schedule | None = None,
    group_table: GroupTable | None = None,
    peer_table: PeerTable | None = None,
) -> Config:
    """The probe config of `host` in `group`, with its revision: its edges listed, or in a rotating group
    its `schedule`, the group's table and its own peer table."""
    layout = host_layout()
    config = Config(
        path=f"{layout.config_dir}/{group}.json",
        revision="",
        host=host.uid,
        group=group,
        address=host.address,
        iperf3=Iperf3Settings(host.iperf3_binary, host.test_duration, CONNECT_TIMEOUT_MS),
        auth=probe_auth(host.uid, host.auth, host.time_skew_threshold),
        listed_edges=listed_edges,
        databases=tuple(
            Database(
                name=database.name,
                url=database.url,
                org=database.org,
                bucket=database.bucket,
                token_path=token_path(database.name),
                ca_path=database.ca_path,
                verify_tls=database.verify_tls,
            )
            for database in host.databases
        ),
        spool=Spool(f"{layout.state_dir}/spool/{group}", host.spool_max_bytes),
        state_path=f"{layout.run_dir}/{group}.state.json",
        log_level=host.log_level,
        echo=Echo(**echo) if echo is not None else None,
        schedule=schedule,
        group_table=group_table,
        peer_table=peer_table,
    )
    return with_revision(config)


def token_path(database: str) -> str:
    """The token file of a database, named after it (a stable name, whatever its place in the list)."""
    return f"{host_layout().secrets_dir}/{database}.token"
