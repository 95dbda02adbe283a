"""Read a SYNTRAF TOML config into plain records, checking it as the original did (reference §6) and
recording in notes every key that has no meaning in syntraf."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import tomllib
from syntraf_probe.bounds import BOUNDS

from syntraf_ctl.importer import values
from syntraf_ctl.importer.notes import CHANGED, GONE, IGNORED, TODO, Note
from syntraf_ctl.importer.values import ConfigImportError

DYNAMIC_ADDRESS = "0.0.0.0"
_UID = re.compile(r"^[A-Za-z0-9_-]+$")

# Original defaults that a group or profile falls back to when a value is invalid (reference §6.2).
DEFAULT_DSCP = 0
DEFAULT_PACKET_SIZE = 32
MIN_PACKET_SIZE = int(BOUNDS["edges[].packet_size"].low)  # iperf3's smallest UDP payload
DEFAULT_INTERVAL = 1  # the code's "1", not the README's 10: 1 s is what deployments actually reported

_CONTROL = "syntraf has no control channel: hosts get their files from `syntraf-ctl apply` over SSH"
_X509 = "the control channel's TLS certificate; there is no control channel any more"
_WEBUI = "the original web UI is gone; results are read from InfluxDB (Grafana) and `syntraf-ctl status`"
_LOGS = "the probe logs to the systemd journal, which rotates and keeps logs itself"
_GONE_KEYS: dict[str, dict[str, str]] = {
    "GLOBAL": {
        "IPERF3_BINARY_PATH": "the install role puts iperf3 on every host at a known path",
        "IPERF3_TEMP_DIRECTORY": "iperf3 output is read from a pipe (the original stopped using it in 2023)",
        "IPERF3_RSA_KEY_DIRECTORY": "iperf3 keys are per host, made by syntraf-ctl and deployed by the role",
        "WATCHDOG_CHECK_RATE": "systemd restarts the probe and the probe restarts iperf3 with backoff",
        "LOG_TO": _LOGS,
        "LOG_MAX_SIZE_PER_FILE_MB": _LOGS,
        "LOG_FILE_TO_KEEP": _LOGS,
        "LOG_PURGE_ON_START": _LOGS,
    },
    "SERVER": {
        "TOKEN": _CONTROL + " (the value is not copied anywhere)",
        "SERVER_PORT": _CONTROL,
        "BIND_ADDRESS": _CONTROL,
        "SERVER_X509_SELFSIGNED_DIRECTORY": _X509,
        "SERVER_X509_SELFSIGNED": _X509,
        "SERVER_X509_CERTIFICATE": _X509,
        "SERVER_X509_CA_CHAIN": _X509,
        "SERVER_X509_PRIVATE_KEY": _X509,
        "PUBLIC_KEY": _X509,
    },
    "DATABASE": {
        "DB_ENGINE": "syntraf writes to InfluxDB 2 only, as the original did",
        "DB_MODE": "the probe checks a database by writing to it, which works the same on OSS and Cloud",
        "DB_CONNECTION_POOL_MAXSIZE": "each probe writes its own batches over one connection per database",
        "DB_USE_WEB_PROXY": "each host now writes to InfluxDB directly; a proxy is not supported (report it "
        "if you need one)",
    },
    "MESH_GROUP": {
        "WEBUI_JSON": _WEBUI,
        "WEBUI_BACKGROUND": _WEBUI,
        "PACKET_PACING": "computed from packets_per_second by the controller",
    },
    "SERVER_CLIENT": {
        "PUBLIC_KEY": "the control channel's node key; there is no control channel any more",
        "EXCLUDED_CLIENT_DICT": "an obsolete name the original already ignored (it read EXCLUDED_CLIENT_UID)",
    },
}
_GONE_SECTIONS = {
    "CLIENT": _CONTROL + "; each host's settings are its host variables",
    "WEBUI": _WEBUI,
    "CONNECTORS": "standalone connectors were deprecated in the original; use a mesh group of two hosts",
    "LISTENERS": "standalone listeners were deprecated in the original; use a mesh group of two hosts",
}
_TABLES = ("GLOBAL", "SERVER")
_ARRAYS = ("DATABASE", "IPERF3_PROFILE", "MESH_GROUP", "SERVER_CLIENT")
_TRAFFIC_KEYS = ("DSCP", "INTERVAL", "PACKET_PER_SECOND", "PACKET_SIZE", "BANDWIDTH")
_LOG_LEVELS = {"debug": "debug", "info": "info", "warning": "warning", "error": "error", "critical": "error"}


@dataclass
class Traffic:
    """The traffic keys a group or profile gives, in syntraf's names and units (bandwidth in bit/s)."""

    given: dict[str, int | float] = field(default_factory=dict)


@dataclass
class Profile:
    uid: str
    traffic: Traffic


@dataclass
class MeshGroup:
    uid: str
    traffic: Traffic
    profile: str | None = None
    disabled: bool = False


@dataclass
class Node:
    uid: str
    address: str | None  # None: a dynamic node ("0.0.0.0"), its address is to be filled in
    groups: list[str] = field(default_factory=list)
    include_only: dict[str, list[str]] = field(default_factory=dict)
    exclude: dict[str, list[str]] = field(default_factory=dict)
    override_dst: dict[str, str] = field(default_factory=dict)
    max_bandwidth_bps: int | None = None
    port_range: str | None = None
    behind_nat: bool = False


@dataclass
class Database:
    uid: str
    url: str
    org: str
    bucket: str
    token: str


@dataclass
class SyntrafConfig:
    profiles: list[Profile] = field(default_factory=list)
    groups: list[MeshGroup] = field(default_factory=list)
    nodes: list[Node] = field(default_factory=list)
    databases: list[Database] = field(default_factory=list)
    port_range: str | None = None
    time_skew_threshold: int | None = None
    iperf3_auth: bool | None = None
    log_level: str | None = None


def _line_of(text: str, name: str) -> int | None:
    """The line where a section header or top-level key `name` first appears (tomllib gives no positions)."""
    pattern = re.compile(rf"^\s*(\[\[?\s*{re.escape(name)}\s*[\].]|{re.escape(name)}\s*=)")
    return next((n for n, line in enumerate(text.splitlines(), 1) if pattern.match(line)), None)


class _Reader:
    """One pass over the parsed TOML; `notes` collects what the summary reports."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.notes: list[Note] = []

    def error(self, where: str, message: str) -> ConfigImportError:
        return ConfigImportError(f"{self.source}: {where}: {message}")

    def section_keys(self, section: str, where: str, table: dict, known: tuple[str, ...]) -> None:
        """Note the keys of `table` that are gone, and the unknown ones the original ignored too."""
        for key in table:
            if key in known:
                continue
            reason = _GONE_KEYS.get(section, {}).get(key)
            if reason:
                self.notes.append(Note(GONE, f"{where}: {key}", reason))
            else:
                self.notes.append(
                    Note(IGNORED, f"{where}: {key}", "unknown key, ignored (as the original did)")
                )

    def traffic(self, table: dict, where: str) -> Traffic:
        given: dict[str, int | float] = {}
        checks = {  # key: (syntraf name, parser, original default)
            "DSCP": ("dscp", lambda v: values.within_bound(v, "edges[].dscp"), DEFAULT_DSCP),
            "PACKET_SIZE": (
                "packet_size",
                lambda v: values.within_bound(v, "edges[].packet_size"),
                DEFAULT_PACKET_SIZE,
            ),
            "INTERVAL": ("interval", lambda v: values.number_in_range(v, 1, 60), DEFAULT_INTERVAL),
        }
        for key, (name, parse, default) in checks.items():
            if key in table:
                parsed = parse(table[key])
                if parsed is None:
                    self.notes.append(
                        Note(
                            CHANGED,
                            f"{where}: {key}",
                            f"{table[key]!r} is invalid; the original used its "
                            f"default {default}, and so does the import",
                        )
                    )
                given[name] = default if parsed is None else _tidy(parsed)
        if "BANDWIDTH" in table:
            given["bandwidth"] = values.bandwidth_bps(
                table["BANDWIDTH"], f"{self.source}: {where}: BANDWIDTH"
            )
        if "PACKET_PER_SECOND" in table:
            pps = values.integer_in_range(table["PACKET_PER_SECOND"], 1, 10_000_000)
            if pps is None:
                raise self.error(
                    f"{where}: PACKET_PER_SECOND",
                    f"{table['PACKET_PER_SECOND']!r} is not a whole number of packets per second (1 or more)",
                )
            given["packets_per_second"] = pps
        return Traffic(given)

    def uid(self, table: dict, where: str, key: str = "UID") -> str:
        uid = table.get(key)
        if not isinstance(uid, str) or not _UID.match(uid):
            raise self.error(f"{where}: {key}", f"{uid!r} is missing or not made of A-Za-z0-9_-")
        return uid


def _tidy(number: int | float) -> int | float:
    return int(number) if float(number).is_integer() else number


def read_config(text: str, source: str) -> tuple[SyntrafConfig, list[Note]]:
    """Parse and check SYNTRAF TOML `text` (from file `source`); raise ConfigImportError naming the place."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigImportError(f"{source}: not valid TOML: {exc}") from None
    reader = _Reader(source)
    for name, value in data.items():
        line = _line_of(text, name)
        at = f"line {line}: " if line else ""
        if name in _GONE_SECTIONS:
            reader.notes.append(Note(GONE, f"[{name}]", _GONE_SECTIONS[name]))
        elif (
            name in _TABLES and not isinstance(value, dict) or name in _ARRAYS and not isinstance(value, list)
        ):
            shape = f"[{name}]" if name in _TABLES else f"[[{name}]] (double brackets)"
            raise ConfigImportError(f"{source}: {at}{name} must be written as {shape}")
        elif name not in _TABLES + _ARRAYS:
            raise ConfigImportError(
                f"{source}: {at}unknown section [{name}]; SYNTRAF sections are "
                + ", ".join(_TABLES + _ARRAYS + tuple(_GONE_SECTIONS))
            )
    config = SyntrafConfig()
    config.profiles = _read_profiles(reader, data.get("IPERF3_PROFILE", []))
    config.groups = _read_groups(reader, data.get("MESH_GROUP", []), {p.uid for p in config.profiles})
    config.nodes = _read_nodes(reader, data.get("SERVER_CLIENT", []), {g.uid for g in config.groups})
    if not config.groups and not config.nodes:
        raise ConfigImportError(
            f"{source}: no [[MESH_GROUP]] nor [[SERVER_CLIENT]]: this looks like a SYNTRAF client's config; "
            "import the SYNTRAF server's config, which holds the whole mesh"
        )
    config.databases = _read_databases(reader, data.get("DATABASE", []))
    _read_global(reader, data.get("GLOBAL", {}), config)
    _read_server(reader, data.get("SERVER", {}), config)
    return config, reader.notes


def _tables(reader: _Reader, items: list, section: str) -> list[tuple[dict, str]]:
    """Each [[section]] table with a provisional place name (its position) for errors before its UID."""
    for n, item in enumerate(items, 1):
        if not isinstance(item, dict):
            raise reader.error(f"[[{section}]] #{n}", "must be a table")
    return [(item, f"[[{section}]] #{n}") for n, item in enumerate(items, 1)]


def _unique(reader: _Reader, uid: str, seen: set[str], where: str) -> None:
    if uid in seen:
        raise reader.error(where, f"UID {uid!r} is defined twice")
    seen.add(uid)


def _read_profiles(reader: _Reader, items: list) -> list[Profile]:
    profiles: list[Profile] = []
    seen: set[str] = set()
    for table, place in _tables(reader, items, "IPERF3_PROFILE"):
        uid = reader.uid(table, place)
        where = f"[[IPERF3_PROFILE]] {uid}"
        _unique(reader, uid, seen, where)
        reader.section_keys("IPERF3_PROFILE", where, table, ("UID", *_TRAFFIC_KEYS))
        profiles.append(Profile(uid, reader.traffic(table, where)))
    return profiles


def _read_groups(reader: _Reader, items: list, profiles: set[str]) -> list[MeshGroup]:
    groups: list[MeshGroup] = []
    seen: set[str] = set()
    for table, place in _tables(reader, items, "MESH_GROUP"):
        uid = reader.uid(table, place)
        where = f"[[MESH_GROUP]] {uid}"
        _unique(reader, uid, seen, where)
        reader.section_keys("MESH_GROUP", where, table, ("UID", "IPERF3_PROFILE", "DISABLED", *_TRAFFIC_KEYS))
        profile = table.get("IPERF3_PROFILE")
        if profile is not None and profile not in profiles:
            raise reader.error(f"{where}: IPERF3_PROFILE", f"no [[IPERF3_PROFILE]] has UID {profile!r}")
        disabled = values.boolean(table.get("DISABLED", False), f"{reader.source}: {where}: DISABLED")
        groups.append(MeshGroup(uid, reader.traffic(table, where), profile, disabled))
    return groups


def _read_nodes(reader: _Reader, items: list, groups: set[str]) -> list[Node]:
    nodes: list[Node] = []
    seen: set[str] = set()
    known = (
        "UID",
        "IP_ADDRESS",
        "MESH_GROUP_UID_LIST",
        "INCLUDE_ONLY_CLIENT_UID",
        "EXCLUDED_CLIENT_UID",
        "OVERRIDE_DST_NODE_IP",
        "MAX_BANDWIDTH",
        "MESH_LISTENERS_PORT_RANGE",
        "BEHIND_NAT",
    )
    for table, place in _tables(reader, items, "SERVER_CLIENT"):
        uid = reader.uid(table, place)
        where = f"[[SERVER_CLIENT]] {uid}"
        at = f"{reader.source}: {where}"
        _unique(reader, uid, seen, where)
        reader.section_keys("SERVER_CLIENT", where, table, known)
        if "IP_ADDRESS" not in table:
            raise reader.error(f"{where}: IP_ADDRESS", "is required")
        address = values.text(table["IP_ADDRESS"], f"{at}: IP_ADDRESS")
        node = Node(uid, None if address == DYNAMIC_ADDRESS else address)
        node.groups = values.uid_list(table.get("MESH_GROUP_UID_LIST", []), f"{at}: MESH_GROUP_UID_LIST")
        node.include_only = values.uid_table(
            table.get("INCLUDE_ONLY_CLIENT_UID", {}), f"{at}: INCLUDE_ONLY_CLIENT_UID"
        )
        node.exclude = values.uid_table(table.get("EXCLUDED_CLIENT_UID", {}), f"{at}: EXCLUDED_CLIENT_UID")
        for key, group_names in (
            ("MESH_GROUP_UID_LIST", node.groups),
            ("INCLUDE_ONLY_CLIENT_UID", node.include_only),
            ("EXCLUDED_CLIENT_UID", node.exclude),
        ):
            missing = [name for name in group_names if name not in groups]
            if missing:
                raise reader.error(f"{where}: {key}", f"no [[MESH_GROUP]] has UID {missing[0]!r}")
        override = table.get("OVERRIDE_DST_NODE_IP", {})
        if not isinstance(override, dict):
            raise reader.error(f"{where}: OVERRIDE_DST_NODE_IP", 'must be a table {UID = "address"}')
        node.override_dst = {
            k: values.text(v, f"{at}: OVERRIDE_DST_NODE_IP.{k}") for k, v in override.items()
        }
        if "MAX_BANDWIDTH" in table:
            node.max_bandwidth_bps = values.bandwidth_bps(table["MAX_BANDWIDTH"], f"{at}: MAX_BANDWIDTH")
        if "MESH_LISTENERS_PORT_RANGE" in table:
            node.port_range = values.port_range(
                table["MESH_LISTENERS_PORT_RANGE"], f"{at}: MESH_LISTENERS_PORT_RANGE"
            )
        node.behind_nat = values.boolean(table.get("BEHIND_NAT", False), f"{at}: BEHIND_NAT")
        if node.address is None:
            reader.notes.append(
                Note(
                    TODO,
                    f"{where}: IP_ADDRESS",
                    '"0.0.0.0" (a dynamic address): host '
                    f"{uid} has no ansible_host; set it in hosts.yml (plan refuses the host until then)",
                )
            )
        nodes.append(node)
    uids = {node.uid for node in nodes}
    for node in nodes:
        unknown = [peer for peer in node.override_dst if peer not in uids]
        if unknown:
            raise reader.error(
                f"[[SERVER_CLIENT]] {node.uid}: OVERRIDE_DST_NODE_IP",
                f"no [[SERVER_CLIENT]] has UID {unknown[0]!r}",
            )
    return nodes


def _read_databases(reader: _Reader, items: list) -> list[Database]:
    databases: list[Database] = []
    seen: set[str] = set()
    required = ("DB_UID", "DB_SERVER", "DB_PORT", "DB_TOKEN", "DB_ORG", "DB_BUCKET")
    for table, place in _tables(reader, items, "DATABASE"):
        missing = [key for key in required if key not in table]
        if missing:
            raise reader.error(f"{place}: {missing[0]}", "is required")
        uid = reader.uid(table, place, "DB_UID")
        where = f"[[DATABASE]] {uid}"
        at = f"{reader.source}: {where}"
        _unique(reader, uid, seen, where)
        reader.section_keys("DATABASE", where, table, (*required, "DB_SERVER_USE_SSL"))
        port = values.within_bound(table["DB_PORT"], "edges[].port")
        if port is None:
            raise reader.error(f"{where}: DB_PORT", f"{table['DB_PORT']!r} is not a port (1-65535)")
        scheme = (
            "https"
            if values.boolean(table.get("DB_SERVER_USE_SSL", True), f"{at}: DB_SERVER_USE_SSL")
            else "http"
        )
        server = values.text(table["DB_SERVER"], f"{at}: DB_SERVER")
        host = f"[{server}]" if ":" in server else server
        if scheme == "http":
            reader.notes.append(
                Note(
                    CHANGED,
                    f"{where}: DB_SERVER_USE_SSL",
                    "false: the token travels in clear text to InfluxDB; consider https",
                )
            )
        databases.append(
            Database(
                uid,
                f"{scheme}://{host}:{port}",
                values.text(table["DB_ORG"], f"{at}: DB_ORG"),
                values.text(table["DB_BUCKET"], f"{at}: DB_BUCKET"),
                values.text(table["DB_TOKEN"], f"{at}: DB_TOKEN"),
            )
        )
    return databases


def _read_global(reader: _Reader, table: dict, config: SyntrafConfig) -> None:
    reader.section_keys(
        "GLOBAL", "[GLOBAL]", table, ("IPERF3_TIME_SKEW_THRESHOLD", "IPERF3_AUTH", "LOG_LEVEL")
    )
    at = f"{reader.source}: [GLOBAL]"
    if "IPERF3_TIME_SKEW_THRESHOLD" in table:
        raw = table["IPERF3_TIME_SKEW_THRESHOLD"]
        config.time_skew_threshold = values.within_bound(raw, "auth.time_skew_threshold")
        if config.time_skew_threshold is None:
            config.time_skew_threshold = 10
            reader.notes.append(
                Note(
                    CHANGED,
                    "[GLOBAL]: IPERF3_TIME_SKEW_THRESHOLD",
                    f"{raw!r} is invalid; the original used its default 10, and so does the import",
                )
            )
    if "IPERF3_AUTH" in table:
        config.iperf3_auth = values.boolean(table["IPERF3_AUTH"], f"{at}: IPERF3_AUTH")
    if "LOG_LEVEL" in table:
        level = _LOG_LEVELS.get(str(table["LOG_LEVEL"]).lower())
        if level is None:
            raise reader.error(
                "[GLOBAL]: LOG_LEVEL", f"{table['LOG_LEVEL']!r} is not one of {', '.join(_LOG_LEVELS)}"
            )
        if str(table["LOG_LEVEL"]).lower() == "critical":
            reader.notes.append(
                Note(CHANGED, "[GLOBAL]: LOG_LEVEL", "critical: the probe's highest level is error")
            )
        config.log_level = level


def _read_server(reader: _Reader, table: dict, config: SyntrafConfig) -> None:
    reader.section_keys("SERVER", "[SERVER]", table, ("MESH_LISTENERS_PORT_RANGE",))
    if "MESH_LISTENERS_PORT_RANGE" in table:
        config.port_range = values.port_range(
            table["MESH_LISTENERS_PORT_RANGE"], f"{reader.source}: [SERVER]: MESH_LISTENERS_PORT_RANGE"
        )
