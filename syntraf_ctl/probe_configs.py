"""Each host's probe config per mesh group, built from the probe's own types (syntraf_probe.config): the
probe owns the schema, the controller fills it in from the plan. The plan JSON (plan.py) is a separate,
user-facing document: the two share no helper, so either can change alone."""

from __future__ import annotations

from collections import defaultdict

from syntraf_probe.config import Config, Database, Echo, Edge, Iperf3Settings, Spool
from syntraf_probe.config_json import with_revision
from syntraf_probe.schedule import Schedule

from syntraf_ctl import mesh
from syntraf_ctl.assets import host_layout
from syntraf_ctl.auth.scope import probe_auth
from syntraf_ctl.model import Host
from syntraf_ctl.plan import Plan
from syntraf_ctl.topology import schedule

CONNECT_TIMEOUT_MS = 3000


def probe_configs(plan: Plan) -> dict[tuple[str, str], Config]:
    """(host uid, group) -> the probe config of that host in that group."""
    edges_of: dict[tuple[str, str], list[Edge]] = defaultdict(list)
    for edge in plan.edges:
        entry = probe_edge(edge, plan.model.hosts)
        edges_of[(edge.src, edge.group)].append(entry)
        edges_of[(edge.dst, edge.group)].append(entry)
    configs = {}
    for uid, groups in plan.host_groups().items():
        for group in groups:
            mesh_group = plan.model.groups[group]
            rotation = schedule(mesh_group.members, mesh_group.topology)
            edges = edges_of.get((uid, group), [])
            configs[(uid, group)] = probe_config(
                plan.model.hosts[uid], group, edges, mesh_group.echo, rotation
            )
    return configs


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
    edges: list[Edge],
    echo: dict | None = None,
    rotation: Schedule | None = None,
) -> Config:
    """The probe config of `host` in `group`, with its revision; a group with an echo adds its `echo`, a
    rotating group its `schedule`."""
    layout = host_layout()
    config = Config(
        path=f"{layout.config_dir}/{group}.json",
        revision="",
        host=host.uid,
        group=group,
        address=host.address,
        iperf3=Iperf3Settings(host.iperf3_binary, host.test_duration, CONNECT_TIMEOUT_MS),
        auth=probe_auth(host.uid, host.auth, host.time_skew_threshold),
        edges=tuple(edges),
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
        schedule=rotation,
    )
    return with_revision(config)


def token_path(database: str) -> str:
    """The token file of a database, named after it (a stable name, whatever its place in the list)."""
    return f"{host_layout().secrets_dir}/{database}.token"
