"""Load and validate the rendered probe config (schema 1, see docs/probe-config.md)."""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Optional

from .bounds import BOUNDS, check, check_url
from .emodel import CODECS
from .schedule import Schedule

SCHEMA = 1
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


EDGE_FIELDS = tuple(field.name for field in fields(Edge))  # the columns of the edges' table form


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
    edges: tuple[Edge, ...]
    databases: tuple[Database, ...]
    spool: Spool
    state_path: str
    log_level: str
    echo: Optional[Echo] = None  # absent: no echo
    schedule: Optional[Schedule] = None  # a rotating group's: which edges run now (schedule.py)


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
    edges = _edges(top, data)
    seen = set()
    for i, edge in enumerate(edges):
        if host not in (edge.src, edge.dst):
            top.fail(f"edges[{i}]", f"host {host} is neither src nor dst of edge {edge.name}")
        if edge.name in seen:
            top.fail(f"edges[{i}]", f"edge {edge.name} appears twice")
        seen.add(edge.name)
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
        edges=edges,
        databases=databases,
        spool=_spool(top.child("spool")),
        state_path=top.text("state_path"),
        log_level=log_level,
        echo=_echo(top.child("echo")) if data.get("echo") is not None else None,
        schedule=_schedule(top.child("schedule"), host, edges) if data.get("schedule") is not None else None,
    )


def load_config(path: str) -> Config:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"config {path}: cannot read: {error}") from None
    return parse_config(text, path)


def _edges(top: _Reader, data: dict[str, Any]) -> tuple[Edge, ...]:
    """`edges`: objects, or with `edge_fields` (the table form) rows of values in that order."""
    top.get("edges", (list,))
    if "edge_fields" not in data:
        return tuple(_edge(top.child("edges", i)) for i in range(len(data["edges"])))
    if top.get("edge_fields", (list,)) != list(EDGE_FIELDS):
        top.fail("edge_fields", f"expected {json.dumps(list(EDGE_FIELDS))}")
    edges = []
    for i, row in enumerate(data["edges"]):
        if not isinstance(row, list) or len(row) != len(EDGE_FIELDS):
            top.fail(f"edges[{i}]", f"expected a row of {len(EDGE_FIELDS)} values (edge_fields)")
        edges.append(_edge(_Reader(top.path, dict(zip(EDGE_FIELDS, row)), f"edges[{i}]")))
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


def _schedule(r: _Reader, host: str, edges: tuple[Edge, ...]) -> Schedule:
    members = r.get("members", (list,))
    if not all(isinstance(m, str) and m for m in members) or len(set(members)) != len(members):
        r.fail(r.key("members"), "expected distinct, non-empty host uids")
    if host not in members:
        r.fail(r.key("members"), f"host {host} is not a member")
    for edge in edges:
        if edge.src not in members or edge.dst not in members:
            r.fail(r.key("members"), f"edge {edge.name} has a host that is not a member")
    peers = r.get("peers", (int,))
    if not 1 <= peers <= len(members) - 1:
        r.fail(r.key("peers"), f"expected 1-{len(members) - 1} (the members but this host), got {peers}")
    epoch = r.number("epoch_seconds", "schedule.epoch_seconds")
    return Schedule(epoch, r.get("origin", (int,)), peers, tuple(members))
