"""The probe config as JSON (schema 1, docs/probe-config.md), written from the probe's own types: what the
controller renders and `parse_config` reads back. Keys in the documented order; the revision is a hash of
the content, so the same config always has the same revision."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import operator
from typing import Any

from .config import EDGE_FIELDS, SCHEMA, Config, Edge
from .schedule import Schedule


def config_json(config: Config) -> dict[str, Any]:
    """`config` as the JSON object the probe reads (its `path` is where it lives, not part of it)."""
    data: dict[str, Any] = {
        "schema": SCHEMA,
        "revision": config.revision,
        "host": config.host,
        "group": config.group,
        "address": config.address,
        "iperf3": dataclasses.asdict(config.iperf3),
        "auth": dataclasses.asdict(config.auth) if config.auth else None,
        **edges_json(config),
        "databases": [dataclasses.asdict(database) for database in config.databases],
        "spool": dataclasses.asdict(config.spool),
        "state_path": config.state_path,
        "log_level": config.log_level,
    }
    if config.echo is not None:  # optional: configs without an echo stay as they were
        data["echo"] = dataclasses.asdict(config.echo)
    if config.schedule is not None:
        data["schedule"] = schedule_json(config.schedule)
    return data


def edges_json(config: Config) -> dict[str, Any]:
    """The config's edges: objects, or in a rotating group's config (2(N-1) edges per host, N up to
    thousands) a table, `edge_fields` then one row of values per edge, which is about a third of the size
    and of the time to write and hash."""
    if config.schedule is None:
        return {"edges": [edge_json(edge) for edge in config.edges]}
    return {"edge_fields": list(EDGE_FIELDS), "edges": [_edge_row(edge) for edge in config.edges]}


_edge_row = operator.attrgetter(*EDGE_FIELDS)  # an edge as a row of the table form: a tuple of its values


def edge_json(edge: Edge) -> dict[str, Any]:
    """An edge in the config's key order: who and where, then its traffic, then the PKCS#1 flag."""
    return {
        "group": edge.group,
        "src": edge.src,
        "dst": edge.dst,
        "listener": edge.listener,
        "initiator": edge.initiator,
        "mode": edge.mode,
        "port": edge.port,
        "connect_address": edge.connect_address,
        "bandwidth_bps": edge.bandwidth_bps,
        "packet_size": edge.packet_size,
        "packets_per_second": edge.packets_per_second,
        "dscp": edge.dscp,
        "interval": edge.interval,
        "src_address": edge.src_address,
        "dst_address": edge.dst_address,
        "pkcs1_padding": edge.pkcs1_padding,
    }


def schedule_json(schedule: Schedule) -> dict[str, Any]:
    return {
        "epoch_seconds": schedule.epoch_seconds,
        "origin": schedule.origin,
        "peers": schedule.peers,
        "members": list(schedule.members),
    }


def config_revision(data: dict[str, Any]) -> str:
    """First 12 hex digits of the SHA-256 of the canonical JSON (sorted keys, no spaces), sans `revision`."""
    content = {key: value for key, value in data.items() if key != "revision"}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:12]


def with_revision(config: Config) -> Config:
    """`config` with the revision of its content."""
    return dataclasses.replace(config, revision=config_revision(config_json(config)))
