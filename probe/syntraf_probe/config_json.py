"""The probe config as JSON (schema 2, docs/probe-config.md), written from the probe's own types: what the
controller renders and `parse_config` reads back. Keys in the documented order; the revision is a hash of
the content, so the same config always has the same revision."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from typing import Any

from .config import SCHEMA, Config, Edge, GroupTable, PeerTable
from .json_text import Encoded, compact, format_json
from .schedule import Schedule


def config_text(config: Config) -> str:
    """The file the probe reads: `config` (made by with_revision) as readable JSON."""
    return format_json(config_json(config)) + "\n"


def config_json(config: Config) -> dict[str, Any]:
    """`config` as the JSON object the probe reads (its `path` is where it lives, not part of it); a rotating
    group's tables as text encoded once each (`Encoded`)."""
    data: dict[str, Any] = {
        "schema": SCHEMA,
        "revision": config.revision,
        "host": config.host,
        "group": config.group,
        "address": config.address,
        "iperf3": dataclasses.asdict(config.iperf3),
        "auth": dataclasses.asdict(config.auth) if config.auth else None,
    }
    if config.group_table is not None and config.peer_table is not None:
        data["group_table"] = group_table_json(config.group_table)
        data["peer_table"] = peer_table_json(config.peer_table)
    else:
        data["edges"] = [edge_json(edge) for edge in config.listed_edges]
    data.update(
        databases=[dataclasses.asdict(database) for database in config.databases],
        spool=dataclasses.asdict(config.spool),
        state_path=config.state_path,
        log_level=config.log_level,
    )
    if config.echo is not None:  # optional: configs without an echo stay as they were
        data["echo"] = dataclasses.asdict(config.echo)
    if config.schedule is not None:
        data["schedule"] = schedule_json(config.schedule)
    return data


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


@functools.lru_cache(maxsize=16)
def group_table_json(table: GroupTable) -> Encoded:
    """The group table's text, encoded once per group (every member's config has the same one)."""
    return _table_text(table)


def peer_table_json(table: PeerTable) -> Encoded:
    return _table_text(table)


def _table_text(table: GroupTable | PeerTable) -> Encoded:
    """A table as the value of a top-level key: one field per line, each list on its line (one C-encoder
    call for a whole list of a thousand ports; dataclasses.asdict would copy every item)."""
    items = {field.name: Encoded(compact(getattr(table, field.name))) for field in dataclasses.fields(table)}
    return Encoded(format_json(items, 1))


@functools.lru_cache(maxsize=16)
def schedule_json(schedule: Schedule) -> Encoded:
    """The schedule's text, encoded once per group like its table."""
    data = {
        "epoch_seconds": schedule.epoch_seconds,
        "origin": schedule.origin,
        "peers": schedule.peers,
        "members": list(schedule.members),
    }
    return Encoded(format_json(data, 1))


def config_revision(data: dict[str, Any]) -> str:
    """First 12 hex digits of the SHA-256 of the canonical JSON (sorted keys, no spaces) without `revision`,
    each `Encoded` value (a table) standing as the SHA-256 of its text."""
    content = {
        key: value.digest if isinstance(value, Encoded) else value
        for key, value in data.items()
        if key != "revision"
    }
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:12]


def with_revision(config: Config) -> Config:
    """`config` with the revision of its content."""
    return dataclasses.replace(config, revision=config_revision(config_json(config)))
