"""Load and validate the rendered probe config (schema 2, see docs/probe-config.md)."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from .bounds import BOUNDS, check, check_url
from .emodel import CODECS
from .schedule import Schedule

SCHEMA = 2  # 2: a rotating group's edges as its group table and this host's peer table
LOG_LEVELS = ("debug", "info", "warning", "error")


class ConfigError(ValueError):
    """The config file is unusable; the message names the file and the key."""


@dataclass(frozen=True)
class Edge:
    group: str
    src: str
    dst: str
    listener: str
    initiator: str
    mode: str  # "forward" | "reverse"
    port: int
    connect_address: str
    src_address: str
    dst_address: str
    bandwidth_bps: int
    packet_size: int
    packets_per_second: float
    dscp: int
    interval: float
    pkcs1_padding: bool

    @property
    def name(self) -> str:
        return f"{self.src}->{self.dst}"


@dataclass(frozen=True)
class GroupTable:
    """What every member's config of a rotating group shares (the controller encodes it once per group): the
    members' addresses in the schedule's member order, the members behind NAT, and the group's traffic."""

    addresses: tuple[str, ...]
    behind_nat: tuple[str, ...]  # an edge from one of these runs forward (its sender initiates), else reverse
    bandwidth_bps: int
    packet_size: int
    packets_per_second: float
    dscp: int
    interval: float


@dataclass(frozen=True)
class PeerTable:
    """One host's edges in a rotating group, over the schedule's members: per member the port of this host's
    edge to it and of its edge to this host (None: the host itself, or no such edge), and the exceptions."""

    ports_out: tuple[Optional[int], ...]
    ports_in: tuple[Optional[int], ...]
    pkcs1_padding: tuple[tuple[str, str], ...]  # (src, dst) of the edges that pass --use-pkcs1-padding
    connect_addresses: tuple[tuple[str, str, str], ...]  # (src, dst, address) where the initiator connects
    # to another address than the listener's


@dataclass(frozen=True)
class Auth:
    time_skew_threshold: int
    private_key_path: str
    authorized_users_path: str
    username: str
    public_keys_dir: str  # per listener L: L.pem (its public key), L.password (this host's password for L)


@dataclass(frozen=True)
class Iperf3Settings:
    binary: str
    test_duration: int
    connect_timeout_ms: int


@dataclass(frozen=True)
class Database:
    name: str
    url: str
    org: str
    bucket: str
    token_path: str
    ca_path: Optional[str]
    verify_tls: bool


@dataclass(frozen=True)
class Echo:
    """The group's RTT/DSCP echo and the codec its MOS is scored for (echo.py, emodel.py)."""

    port: int
    rate: float  # requests per second to each peer this host initiates tests with
    codec: str


@dataclass(frozen=True)
class Spool:
    directory: str
    max_bytes: int


@dataclass(frozen=True)
class Config:
    path: str
    revision: str
    host: str
    group: str
    address: str
    iperf3: Iperf3Settings
    auth: Optional[Auth]
    listed_edges: tuple[Edge, ...]  # `edges` of the file; () in the table form
    databases: tuple[Database, ...]
    spool: Spool
    state_path: str
    log_level: str
    echo: Optional[Echo] = None  # absent: no echo
    schedule: Optional[Schedule] = None  # a rotating group's: which edges run now (schedule.py)
    group_table: Optional[GroupTable] = None  # the table form of a rotating group's edges (with schedule)
    peer_table: Optional[PeerTable] = None

    @functools.cached_property
    def edges(self) -> tuple[Edge, ...]:
        """Every edge of this host in the group: as listed, or expanded from the tables."""
        if self.group_table is None or self.peer_table is None or self.schedule is None:
            return self.listed_edges
        return expand_tables(self.host, self.group, self.schedule.members, self.group_table, self.peer_table)


class _Reader:
    """Typed access to one JSON object, with errors that name the file and the key path."""

    def __init__(self, path: str, data: Any, where: str) -> None:
        self.path, self.data, self.where = path, data, where
        if not isinstance(data, dict):
            self.fail(where, "expected an object")

    def fail(self, key: str, problem: str) -> None:
        raise ConfigError(f"config {self.path}: key {key}: {problem}")

    def key(self, name: str) -> str:
        return f"{self.where}.{name}" if self.where else name

    def get(self, name: str, kinds: tuple, nullable: bool = False) -> Any:
        if name not in self.data:
            self.fail(self.key(name), "missing")
        value = self.data[name]
        if value is None and nullable:
            return None
        # bool is an int subclass: never accept it where a number is wanted
        if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
            names = " or ".join(k.__name__ for k in kinds)
            self.fail(self.key(name), f"expected {names}, got {json.dumps(value)}")
        return value

    def text(self, name: str, nullable: bool = False) -> Any:
        value = self.get(name, (str,), nullable)
        if value == "":
            self.fail(self.key(name), "must not be empty")
        return value

    def number(self, name: str, bound: str) -> Any:
        """The number at `name`, within BOUNDS[bound] (the limits syntraf-ctl validates with too)."""
        value = self.get(name, (int,) if BOUNDS[bound].integer else (int, float))
        try:
            return check(bound, value)
        except ValueError as error:
            self.fail(self.key(name), str(error))

    def child(self, name: str, index: Optional[int] = None) -> _Reader:
        value = self.data[name] if index is None else self.data[name][index]
        key = self.key(name) if index is None else f"{self.key(name)}[{index}]"
        return _Reader(self.path, value, key)


def parse_config(text: str, path: str) -> Config:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(f"config {path}: malformed JSON: {error}") from None
    top = _Reader(path, data, "")
    schema = top.get("schema", (int,))
    if schema != SCHEMA:
        top.fail("schema", f"unknown schema version {schema}; this probe understands schema {SCHEMA}")
    host = top.text("host")
    log_level = top.text("log_level")
    if log_level not in LOG_LEVELS:
        top.fail("log_level", f"{log_level!r} is not one of {', '.join(LOG_LEVELS)}")
    schedule = _schedule(top.child("schedule"), host) if data.get("schedule") is not None else None
    tables = "group_table" in data or "peer_table" in data
    top.get("databases", (list,))
    databases = tuple(_database(top.child("databases", i)) for i in range(len(data["databases"])))
    if len({db.name for db in databases}) != len(databases):
        top.fail("databases", "database names must be unique (they name the spool directories)")
    top.get("auth", (dict,), nullable=True)
    top.get("iperf3", (dict,))
    top.get("spool", (dict,))
    return Config(
        path=path,
        revision=top.text("revision"),
        host=host,
        group=top.text("group"),
        address=top.text("address"),
        iperf3=_iperf3(top.child("iperf3")),
        auth=None if data["auth"] is None else _auth(top.child("auth")),
        listed_edges=() if tables else _listed_edges(top, data, host, schedule),
        databases=databases,
        spool=_spool(top.child("spool")),
        state_path=top.text("state_path"),
        log_level=log_level,
        echo=_echo(top.child("echo")) if data.get("echo") is not None else None,
        schedule=schedule,
        **(_tables(top, data, host, schedule) if tables else {}),
    )


def load_config(path: str) -> Config:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"config {path}: cannot read: {error}") from None
    return parse_config(text, path)


def _listed_edges(
    top: _Reader, data: dict[str, Any], host: str, schedule: Optional[Schedule]
) -> tuple[Edge, ...]:
    """`edges`: one object per edge, each with `host` as its src or dst, no edge twice."""
    top.get("edges", (list,))
    edges = tuple(_edge(top.child("edges", i)) for i in range(len(data["edges"])))
    members = set(schedule.members) if schedule is not None else None
    seen = set()
    for i, edge in enumerate(edges):
        if host not in (edge.src, edge.dst):
            top.fail(f"edges[{i}]", f"host {host} is neither src nor dst of edge {edge.name}")
        if edge.name in seen:
            top.fail(f"edges[{i}]", f"edge {edge.name} appears twice")
        if members is not None and not {edge.src, edge.dst} <= members:
            top.fail("schedule.members", f"edge {edge.name} has a host that is not a member")
        seen.add(edge.name)
    return edges


def _tables(top: _Reader, data: dict[str, Any], host: str, schedule: Optional[Schedule]) -> dict[str, Any]:
    """`group_table` and `peer_table`, the table form of a rotating group's edges (instead of `edges`)."""
    if "edges" in data:
        top.fail("edges", "a config has either edges or group_table and peer_table, not both")
    if schedule is None:
        top.fail("group_table", "the table form needs the schedule (its members order the tables)")
    top.get("group_table", (dict,))
    top.get("peer_table", (dict,))
    members = schedule.members
    group_table = _group_table(top.child("group_table"), members)
    return {
        "group_table": group_table,
        "peer_table": _peer_table(top.child("peer_table"), host, members, set(group_table.behind_nat)),
    }


def _group_table(r: _Reader, members: tuple[str, ...]) -> GroupTable:
    addresses = r.get("addresses", (list,))
    if len(addresses) != len(members) or not all(isinstance(a, str) and a for a in addresses):
        r.fail(r.key("addresses"), f"expected {len(members)} non-empty addresses, one per schedule member")
    behind_nat = r.get("behind_nat", (list,))
    if not all(isinstance(uid, str) and uid in members for uid in behind_nat):
        r.fail(r.key("behind_nat"), "expected uids of schedule members")
    return GroupTable(
        addresses=tuple(addresses),
        behind_nat=tuple(behind_nat),
        bandwidth_bps=r.number("bandwidth_bps", "edges[].bandwidth_bps"),
        packet_size=r.number("packet_size", "edges[].packet_size"),
        packets_per_second=r.number("packets_per_second", "edges[].packets_per_second"),
        dscp=r.number("dscp", "edges[].dscp"),
        interval=r.number("interval", "edges[].interval"),
    )


def _peer_table(r: _Reader, host: str, members: tuple[str, ...], behind_nat: set[str]) -> PeerTable:
    ports_out = _ports(r, "ports_out", host, members, behind_nat)
    ports_in = _ports(r, "ports_in", host, members, behind_nat)
    edges = {(host, m) for m, port in zip(members, ports_out) if port is not None}
    edges |= {(m, host) for m, port in zip(members, ports_in) if port is not None}
    return PeerTable(
        ports_out=ports_out,
        ports_in=ports_in,
        pkcs1_padding=_edge_rows(r, "pkcs1_padding", 2, edges),
        connect_addresses=_edge_rows(r, "connect_addresses", 3, edges),
    )


def _ports(
    r: _Reader, name: str, host: str, members: tuple[str, ...], behind_nat: set[str]
) -> tuple[Optional[int], ...]:
    """Per member, the port of the edge between it and `host` in one direction, or null (no such edge)."""
    ports = r.get(name, (list,))
    if len(ports) != len(members):
        r.fail(r.key(name), f"expected {len(members)} ports or nulls, one per schedule member")
    for i, (member, port) in enumerate(zip(members, ports)):
        if port is None:
            continue
        key = f"{r.key(name)}[{i}]"
        if member == host:
            r.fail(key, f"expected null: {host} has no edge with itself")
        if host in behind_nat and member in behind_nat:
            r.fail(key, f"expected null: {host} and {member} are both behind NAT")
        _Reader(r.path, {"port": port}, key).number("port", "edges[].port")
    return tuple(ports)


def _edge_rows(
    r: _Reader, name: str, length: int, edges: set[tuple[str, str]]
) -> tuple[tuple[str, ...], ...]:
    """Rows `[src, dst, ...]` of `length` non-empty strings, each naming an edge of the tables once."""
    rows = r.get(name, (list,))
    seen = set()
    for i, row in enumerate(rows):
        if not (isinstance(row, list) and len(row) == length and all(isinstance(v, str) and v for v in row)):
            r.fail(f"{r.key(name)}[{i}]", f"expected {length} non-empty strings, [src, dst, ...]")
        if tuple(row[:2]) not in edges or tuple(row[:2]) in seen:
            r.fail(f"{r.key(name)}[{i}]", f"{row[0]}->{row[1]} is not an edge of the tables, or listed twice")
        seen.add(tuple(row[:2]))
    return tuple(tuple(row) for row in rows)


def expand_tables(
    host: str, group: str, members: tuple[str, ...], table: GroupTable, peers: PeerTable
) -> tuple[Edge, ...]:
    """The edges of `host` that the table form describes, per member: this host's edge to it, then its edge
    to this host. A sender behind NAT initiates (forward), else the receiver does (reverse, -R); the
    initiator connects to the listener's address unless `connect_addresses` names another."""
    address = dict(zip(members, table.addresses))
    behind_nat, pkcs1 = frozenset(table.behind_nat), frozenset(peers.pkcs1_padding)
    connect = {(src, dst): to for src, dst, to in peers.connect_addresses}

    def edge(src: str, dst: str, port: int) -> Edge:
        listener, initiator, mode = (dst, src, "forward") if src in behind_nat else (src, dst, "reverse")
        return Edge(
            group=group,
            src=src,
            dst=dst,
            listener=listener,
            initiator=initiator,
            mode=mode,
            port=port,
            connect_address=connect.get((src, dst), address[listener]),
            src_address=address[src],
            dst_address=address[dst],
            bandwidth_bps=table.bandwidth_bps,
            packet_size=table.packet_size,
            packets_per_second=table.packets_per_second,
            dscp=table.dscp,
            interval=table.interval,
            pkcs1_padding=(src, dst) in pkcs1,
        )

    edges = []
    for member, port_out, port_in in zip(members, peers.ports_out, peers.ports_in):
        if port_out is not None:
            edges.append(edge(host, member, port_out))
        if port_in is not None:
            edges.append(edge(member, host, port_in))
    return tuple(edges)


def _edge(r: _Reader) -> Edge:
    mode = r.text("mode")
    if mode not in ("forward", "reverse"):
        r.fail(r.key("mode"), f"{mode!r} is neither forward nor reverse")
    edge = Edge(
        group=r.text("group"),
        src=r.text("src"),
        dst=r.text("dst"),
        listener=r.text("listener"),
        initiator=r.text("initiator"),
        mode=mode,
        port=r.number("port", "edges[].port"),
        connect_address=r.text("connect_address"),
        src_address=r.text("src_address"),
        dst_address=r.text("dst_address"),
        bandwidth_bps=r.number("bandwidth_bps", "edges[].bandwidth_bps"),
        packet_size=r.number("packet_size", "edges[].packet_size"),
        packets_per_second=r.number("packets_per_second", "edges[].packets_per_second"),
        dscp=r.number("dscp", "edges[].dscp"),
        interval=r.number("interval", "edges[].interval"),
        pkcs1_padding=r.get("pkcs1_padding", (bool,)),
    )
    if {edge.listener, edge.initiator} != {edge.src, edge.dst}:
        r.fail(r.where, "listener and initiator must be the edge's src and dst")
    if (edge.initiator == edge.dst) != (mode == "reverse"):
        r.fail(r.where, "the initiator is the receiver exactly in reverse mode")
    return edge


def _iperf3(r: _Reader) -> Iperf3Settings:
    return Iperf3Settings(
        binary=r.text("binary"),
        test_duration=r.number("test_duration", "iperf3.test_duration"),
        connect_timeout_ms=r.number("connect_timeout_ms", "iperf3.connect_timeout_ms"),
    )


def _auth(r: _Reader) -> Auth:
    return Auth(
        time_skew_threshold=r.number("time_skew_threshold", "auth.time_skew_threshold"),
        private_key_path=r.text("private_key_path"),
        authorized_users_path=r.text("authorized_users_path"),
        username=r.text("username"),
        public_keys_dir=r.text("public_keys_dir"),
    )


def _database(r: _Reader) -> Database:
    url = r.text("url")
    try:
        check_url(url)
    except ValueError as error:
        r.fail(r.key("url"), str(error))
    return Database(
        name=r.text("name"),
        url=url,
        org=r.text("org"),
        bucket=r.text("bucket"),
        token_path=r.text("token_path"),
        ca_path=r.text("ca_path", nullable=True),
        verify_tls=r.get("verify_tls", (bool,)),
    )


def _spool(r: _Reader) -> Spool:
    return Spool(directory=r.text("directory"), max_bytes=r.number("max_bytes", "spool.max_bytes"))


def _echo(r: _Reader) -> Echo:
    codec = r.text("codec")
    if codec not in CODECS:
        r.fail(r.key("codec"), f"{codec!r} is not one of {', '.join(CODECS)}")
    return Echo(port=r.number("port", "echo.port"), rate=r.number("rate", "echo.rate"), codec=codec)


def _schedule(r: _Reader, host: str) -> Schedule:
    members = r.get("members", (list,))
    if not all(isinstance(m, str) and m for m in members) or len(set(members)) != len(members):
        r.fail(r.key("members"), "expected distinct, non-empty host uids")
    if host not in members:
        r.fail(r.key("members"), f"host {host} is not a member")
    peers = r.get("peers", (int,))
    if not 1 <= peers <= len(members) - 1:
        r.fail(r.key("peers"), f"expected 1-{len(members) - 1} (the members but this host), got {peers}")
    epoch = r.number("epoch_seconds", "schedule.epoch_seconds")
    return Schedule(epoch, r.get("origin", (int,)), peers, tuple(members))
