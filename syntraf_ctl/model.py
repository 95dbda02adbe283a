"""The mesh model built from inventory variables, with every validation rule.

Problems are collected, never raised one by one: `build_model` returns the model and the full list, so a user
fixes everything in one pass. The inventory is reached only through `LoadedInventory`'s small interface
(`globals`, `host`, `match`, `has_group`, `hostnames`), so this module stays free of Ansible.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from syntraf_probe import bounds
from syntraf_probe.config import LOG_LEVELS
from syntraf_probe.emodel import CODECS

from syntraf_ctl import value_parsers
from syntraf_ctl.messages import name_list
from syntraf_ctl.problems import Problem
from syntraf_ctl.render_target import PLAN_FILE
from syntraf_ctl.topology import FULL, Topology
from syntraf_ctl.topology_spec import parse_topology, site_variable
from syntraf_ctl.variables import Vars

NAME = re.compile(r"^[A-Za-z0-9_-]{1,50}$")  # mesh groups and profiles: file and systemd instance names
UID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")  # host uids: InfluxDB tags and file names
RATE_KEYS = ("bandwidth", "packet_size", "packets_per_second")
TRAFFIC_KEYS = (*RATE_KEYS, "dscp", "interval")
# alerts: read by syntraf_ctl.observability
GROUP_KEYS = (*TRAFFIC_KEYS, "profile", "members", "disabled", "echo", "topology", "alerts")
ECHO_DEFAULTS = {"rate": 1, "codec": "g711"}  # the probe's echo (docs/probe-config.md): port is required
DEFAULT_RATE = {"bandwidth": 100_000, "packet_size": 32}  # the original's defaults: 100k, 32-byte payload
DEFAULT_DSCP = 0
DEFAULT_INTERVAL = 10.0
DEFAULT_PORT_RANGE = "15000-16000"
MAX_FILE_NAME = 255  # bytes, NAME_MAX of Linux file systems
DATABASE_KEYS = ("name", "url", "org", "bucket", "token", "ca_path", "verify_tls")
HOST_DEFAULTS: dict[str, Any] = {
    "syntraf_listen_port_range": DEFAULT_PORT_RANGE,
    "syntraf_behind_nat": False,
    "syntraf_include_only": {},
    "syntraf_exclude": {},
    "syntraf_override_dst": {},
    "syntraf_max_bandwidth": None,
    "syntraf_influxdb": [],
    "syntraf_iperf3_binary": "/usr/bin/iperf3",
    "syntraf_test_duration": 300,
    "syntraf_spool_max_bytes": 64 * 1024 * 1024,
    "syntraf_log_level": "info",
    "syntraf_iperf3_auth": True,
    "syntraf_iperf3_version": None,  # overrides what Ansible runs reported (kept in the lock file)
    "syntraf_iperf3_time_skew_threshold": 10,
}
HOST_KEYS = ("syntraf_uid", "syntraf_address", "ansible_host", *HOST_DEFAULTS)
MESH_KEYS = (  # host settings the edges, ports and bandwidth checks depend on
    "syntraf_uid",
    "syntraf_address",
    "ansible_host",
    "syntraf_listen_port_range",
    "syntraf_behind_nat",
    "syntraf_include_only",
    "syntraf_exclude",
    "syntraf_override_dst",
    "syntraf_max_bandwidth",
    "syntraf_iperf3_auth",
)
GLOBAL_KEYS = ("syntraf_mesh_groups", "syntraf_iperf3_profiles")  # once for all (`all` vars, group_vars/all)
# Other syntraf_* variables an inventory may set: the playbooks' and the role's (roles/*/defaults).
PLAYBOOK_KEYS = ("syntraf_hosts", "syntraf_rendered", "syntraf_render_dir", "syntraf_vault_password_file")
ROLE_PREFIXES = ("syntraf_probe_", "syntraf_deploy_")
KNOWN_KEYS = tuple(k for k in (*GLOBAL_KEYS, *HOST_KEYS, *PLAYBOOK_KEYS) if k.startswith("syntraf_"))
TRAFFIC_PARSERS: dict[str, Callable[[object], Any]] = {
    "bandwidth": value_parsers.parse_edge_bandwidth,
    "packet_size": value_parsers.parse_packet_size,
    "packets_per_second": value_parsers.parse_packets_per_second,
    "dscp": value_parsers.parse_dscp,
    "interval": value_parsers.parse_interval,
}


class Inventory(Protocol):
    """What the model needs from a loaded inventory (see syntraf_ctl.ansible_inventory.LoadedInventory)."""

    problems: list[Problem]

    def globals(self) -> Vars: ...
    def host(self, name: str, keys: tuple[str, ...]) -> Vars: ...
    def match(self, pattern: str | list[str]) -> list[str]: ...
    def has_group(self, name: str) -> bool: ...
    @property
    def hostnames(self) -> list[str]: ...


@dataclass(frozen=True)
class Traffic:
    """What one edge sends: payload bit/s, UDP payload size, packets/s, DSCP and reporting interval."""

    bandwidth_bps: int
    packet_size: int
    packets_per_second: float
    dscp: int
    interval: float


@dataclass(frozen=True)
class MeshGroup:
    name: str
    traffic: Traffic
    members: tuple[str, ...]  # host uids, sorted
    profile: str | None = None
    disabled: bool = False
    echo: dict[str, Any] | None = None  # the probe config's `echo` for every member, or None
    topology: Topology = FULL


@dataclass(frozen=True)
class Database:
    name: str
    url: str
    org: str
    bucket: str
    ca_path: str | None
    verify_tls: bool


@dataclass(frozen=True)
class Host:
    name: str  # inventory hostname (the directory render writes for it)
    uid: str
    address: str
    behind_nat: bool
    port_range: tuple[int, int]
    include_only: dict[str, frozenset[str]]
    exclude: dict[str, frozenset[str]]
    override_dst: dict[str, str]
    max_bandwidth_bps: int | None
    databases: tuple[Database, ...]
    iperf3_binary: str
    test_duration: int
    spool_max_bytes: int
    log_level: str
    auth: bool  # iperf3 authentication of the edges this host listens for and initiates
    iperf3_version: str | None
    time_skew_threshold: int
    source: Vars = field(compare=False, repr=False)  # where its variables came from, for messages

    def problem(self, key: str, message: str) -> Problem:
        """A problem about this host's `key`, pointing at where the inventory sets it."""
        return Problem(self.source.origin(key), self.source.scope, key, message)


@dataclass
class Model:
    groups: dict[str, MeshGroup]  # every mesh group, disabled ones too, by name
    hosts: dict[str, Host]  # every host in a mesh group, by uid
    idle_hosts: list[str]  # inventory hostnames in no enabled mesh group
    warnings: list[str] = field(default_factory=list)


class _Collector:
    """Collects problems for one scope (a Vars) so each check is a single line."""

    def __init__(self, problems: list[Problem], scope: Vars) -> None:
        self.problems = problems
        self.scope = scope

    def add(self, path: str, message: str, subject: str | None = None) -> None:
        self.problems.append(Problem(self.scope.origin(path), subject or self.scope.scope, path, message))

    def parse(
        self, path: str, parser: Callable[[object], Any], value: object, subject: str | None = None
    ) -> Any:
        """`parser(value)`, or None after recording why it failed."""
        try:
            return parser(value)
        except ValueError as error:
            self.add(path, str(error), subject)
            return None


def build_model(inventory: Inventory) -> tuple[Model, list[Problem]]:
    """The model of `inventory` and every problem found (an empty list means it is valid)."""
    problems: list[Problem] = []
    scope = inventory.globals()
    check = _Collector(problems, scope)
    _check_unknown_keys(scope, problems)
    profiles = _parse_profiles(scope.values.get("syntraf_iperf3_profiles", {}), check)
    settings: dict[str, tuple[Traffic | None, str | None, bool]] = {}
    hostnames_by_group: dict[str, list[str]] = {}
    specs = _mesh_group_specs(scope, check)
    for name, spec in specs.items():
        settings[name] = _parse_group(name, spec, profiles, check)
        members = _resolve_members(name, spec, inventory, check)
        if members is not None:
            hostnames_by_group[name] = members

    member_names = sorted({h for members in hostnames_by_group.values() for h in members})
    site_keys = tuple(
        sorted({key for spec in specs.values() if (key := site_variable(spec.get("topology")))})
    )
    scopes = {name: inventory.host(name, HOST_KEYS + site_keys) for name in member_names}
    hosts_by_name = {name: _parse_host(scopes[name], name, problems) for name in member_names}
    uid_of = _check_uids(hosts_by_name, problems)
    groups: dict[str, MeshGroup] = {}
    for name, hostnames in hostnames_by_group.items():
        traffic, profile, disabled = settings[name]
        echo = _parse_echo(name, specs[name].get("echo"), check)
        topology = parse_topology(
            specs[name].get("topology"),
            f"syntraf_mesh_groups.{name}",
            hostnames,
            uid_of,
            inventory.match,
            traffic.interval if traffic else None,
            lambda key, message, group=name: check.add(key, message, f"mesh group {group}"),
            scopes,
            problems.append,
        )
        if traffic is not None and topology is not None:
            members = tuple(sorted(uid_of[h] for h in hostnames if h in uid_of))
            groups[name] = MeshGroup(name, traffic, members, profile, disabled, echo, topology)
    hosts = {host.uid: host for host in hosts_by_name.values() if host is not None}
    _check_references(hosts, groups, hostnames_by_group, problems)
    _check_test_duration(hosts, groups, problems)
    _check_shared_addresses(hosts, problems)
    enabled = {h for name, g in groups.items() if not g.disabled for h in hostnames_by_group[name]}
    idle = [name for name in inventory.hostnames if name not in enabled]
    problems.extend(_check_hostnames(inventory, set(specs)))
    model = Model(groups, hosts, idle, _warnings(groups, hosts, enabled))
    return model, problems + inventory.problems


def _check_hostnames(inventory: Inventory, mesh_groups: set[str]) -> list[Problem]:
    """Render writes DIR/<host>/ beside DIR/plan.json, and a host named like a group would be matched by
    that group's pattern instead of the group."""
    problems = []
    for name in inventory.hostnames:
        if "/" in name or name.startswith(".") or not name.isprintable() or name == PLAN_FILE:
            message = "the inventory hostname cannot be a directory name (render writes DIR/<host>/)"
        elif len(name.encode("utf-8")) > MAX_FILE_NAME:
            message = f"the inventory hostname is longer than a file name can be ({MAX_FILE_NAME} bytes)"
        elif inventory.has_group(name) or name in mesh_groups:
            message = (
                "the inventory hostname is also the name of a group: the group's pattern would match the "
                "host instead of the group's members; rename the host or the group"
            )
        else:
            continue
        problems.append(Problem("", f"host {name}", "", message))
    return problems


def _mesh_group_specs(scope: Vars, check: _Collector) -> dict[str, dict[str, Any]]:
    """syntraf_mesh_groups entries that are well-formed mappings with a valid name and known keys."""
    specs = scope.values.get("syntraf_mesh_groups")
    if "syntraf_mesh_groups" in scope.failed:
        return {}
    if not isinstance(specs, dict) or not specs:
        check.add("syntraf_mesh_groups", "define at least one mesh group (a mapping: group name -> settings)")
        return {}
    valid = {}
    for name, spec in specs.items():
        path = f"syntraf_mesh_groups.{name}"
        subject = f"mesh group {name}"
        if not NAME.match(name):
            check.add(path, "the name must be 1-50 letters, digits, '_' or '-'", subject)
        elif spec is not None and not isinstance(spec, dict):
            check.add(path, f"expected a mapping of settings, got {spec!r}", subject)
        else:
            valid[name] = spec or {}
            for key in sorted(set(valid[name]) - set(GROUP_KEYS)):
                check.add(f"{path}.{key}", f"unknown setting (known: {', '.join(GROUP_KEYS)})", subject)
    return valid


def _warnings(groups: dict[str, MeshGroup], hosts: dict[str, Host], enabled: set[str]) -> list[str]:
    """What is valid but probably not what the user meant."""
    warnings = []
    for name, group in sorted(groups.items()):
        if group.disabled:
            warnings.append(f"mesh group {name} is disabled")
        elif len(group.members) < 2:
            warnings.append(f"mesh group {name} has {len(group.members)} member(s): it measures nothing")
    for uid, host in sorted(hosts.items()):
        if not host.databases and host.name in enabled:
            warnings.append(f"host {uid} has no syntraf_influxdb database: its measurements are not stored")
    return warnings


def _parse_traffic_keys(
    settings: dict[str, Any], path: str, check: _Collector, subject: str
) -> dict[str, Any]:
    """The traffic keys of a profile or group, parsed; null stays None (it unsets a profile's key)."""
    parsed: dict[str, Any] = {}
    for key in TRAFFIC_KEYS:
        if key in settings:
            value = settings[key]
            parsed[key] = (
                None if value is None else check.parse(f"{path}.{key}", TRAFFIC_PARSERS[key], value, subject)
            )
    return parsed


def _parse_profiles(specs: Any, check: _Collector) -> dict[str, dict[str, Any]]:
    if not isinstance(specs, dict):
        check.add("syntraf_iperf3_profiles", f"expected a mapping: profile name -> settings, got {specs!r}")
        return {}
    profiles: dict[str, dict[str, Any]] = {}
    for name, spec in specs.items():
        path = f"syntraf_iperf3_profiles.{name}"
        subject = f"profile {name}"
        if not NAME.match(name):
            check.add(path, "the name must be 1-50 letters, digits, '_' or '-'", subject)
        elif not isinstance(spec, dict):
            check.add(path, f"expected a mapping of settings, got {spec!r}", subject)
        else:
            for key in sorted(set(spec) - set(TRAFFIC_KEYS)):
                check.add(f"{path}.{key}", f"unknown setting (known: {', '.join(TRAFFIC_KEYS)})", subject)
            profiles[name] = _parse_traffic_keys(spec, path, check, subject)
    return profiles


def _parse_group(
    name: str, spec: dict[str, Any], profiles: dict[str, dict[str, Any]], check: _Collector
) -> tuple[Traffic | None, str | None, bool]:
    """(traffic, profile name, disabled); traffic is None when a problem was recorded."""
    path = f"syntraf_mesh_groups.{name}"
    subject = f"mesh group {name}"
    disabled = bool(
        check.parse(f"{path}.disabled", value_parsers.parse_bool, spec.get("disabled", False), subject)
    )
    profile = spec.get("profile")
    settings: dict[str, Any] = {}
    if profile is not None:
        if not isinstance(profile, str) or profile not in profiles:
            known = ", ".join(sorted(profiles)) or "none defined in syntraf_iperf3_profiles"
            check.add(f"{path}.profile", f"unknown profile {profile!r} (known: {known})", subject)
            return None, None, disabled
        settings.update(profiles[profile])
    before = len(check.problems)
    settings.update(_parse_traffic_keys(spec, path, check, subject))
    settings = {key: value for key, value in settings.items() if value is not None}
    if len(check.problems) > before:
        return None, profile, disabled
    rates = [key for key in RATE_KEYS if key in settings]
    if not rates:
        settings.update(DEFAULT_RATE)
    elif len(rates) != 2:
        origin = f" (with profile {profile})" if profile else ""
        check.add(
            path,
            f"give exactly two of bandwidth, packet_size and packets_per_second{origin}, "
            f"the third is derived; got {', '.join(rates)} "
            "(set a profile's key to null in the group to drop it)",
            subject,
        )
        return None, profile, disabled
    try:
        traffic = derive_traffic(settings)
    except ValueError as error:
        check.add(path, str(error), subject)
        return None, profile, disabled
    return traffic, profile, disabled


def _parse_echo(name: str, spec: Any, check: _Collector) -> dict[str, Any] | None:
    """A group's `echo: {port, rate, codec}` (rate, codec: defaults), checked with the probe's bounds."""
    if spec is None:
        return None
    path, subject = f"syntraf_mesh_groups.{name}.echo", f"mesh group {name}"
    if not isinstance(spec, dict) or "port" not in spec or set(spec) - {"port", *ECHO_DEFAULTS}:
        check.add(path, f"expected {{port, rate, codec}} (port required), got {spec!r}", subject)
        return None
    echo = {**ECHO_DEFAULTS, **spec}
    port = check.parse(f"{path}.port", lambda v: bounds.check("echo.port", v), echo["port"], subject)
    rate = check.parse(f"{path}.rate", lambda v: bounds.check("echo.rate", v), echo["rate"], subject)
    if echo["codec"] not in CODECS:
        check.add(f"{path}.codec", f"{echo['codec']!r} is not one of {', '.join(CODECS)}", subject)
        return None
    return None if port is None or rate is None else {"port": port, "rate": rate, "codec": echo["codec"]}


def derive_traffic(settings: dict[str, Any]) -> Traffic:
    """Complete two of bandwidth (bit/s), packet_size (bytes) and packets_per_second with the third."""
    bandwidth = settings.get("bandwidth")
    size = settings.get("packet_size")
    pps = settings.get("packets_per_second")
    if bandwidth is None:
        bandwidth = round(8 * size * pps)
    elif size is None:
        size = round(bandwidth / (8 * pps))
    if pps is None:
        pps = bandwidth / (8 * size)
    pps = int(pps) if float(pps).is_integer() else round(pps, 3)
    given = " and ".join(f"{key} {settings[key]:g}" for key in RATE_KEYS if key in settings)
    for key, value in (("bandwidth", bandwidth), ("packet_size", size), ("packets_per_second", pps)):
        try:
            bounds.check(f"edges[].{key}_bps" if key == "bandwidth" else f"edges[].{key}", value)
        except ValueError as error:
            raise ValueError(f"{given}: the derived {key} {error}") from None
    return Traffic(
        bandwidth,
        size,
        pps,
        settings.get("dscp", DEFAULT_DSCP),
        float(settings.get("interval", DEFAULT_INTERVAL)),
    )


def _resolve_members(
    name: str, spec: dict[str, Any], inventory: Inventory, check: _Collector
) -> list[str] | None:
    """Inventory hostnames of a mesh group: its `members:` pattern, else the inventory group of its name."""
    path = f"syntraf_mesh_groups.{name}"
    subject = f"mesh group {name}"
    pattern = spec.get("members")
    if pattern is None:
        if not inventory.has_group(name):
            check.add(path, f"no inventory group named {name!r} and no `members:` host pattern", subject)
            return None
        pattern = name
    elif not isinstance(pattern, str) and not (
        isinstance(pattern, list) and pattern and all(isinstance(p, str) for p in pattern)
    ):
        check.add(
            f"{path}.members", f"expected an Ansible host pattern or a list of them, got {pattern!r}", subject
        )
        return None
    hostnames = inventory.match(pattern)
    if not hostnames:
        key = path if spec.get("members") is None else f"{path}.members"
        check.add(
            key,
            f"{pattern!r} matches no inventory host: the group would lose every edge (a typo?)",
            subject,
        )
        return None
    return hostnames


def _check_unknown_keys(scope: Vars, problems: list[Problem]) -> None:
    """A syntraf_* variable nobody reads is a typo until shown otherwise: say which name was meant."""
    for key, source in sorted(scope.others.items()):
        if key in KNOWN_KEYS or key.startswith(ROLE_PREFIXES):
            continue
        close = difflib.get_close_matches(key, KNOWN_KEYS, n=1, cutoff=0.8)
        hint = f"; did you mean {close[0]}?" if close else ""
        problems.append(Problem(source, scope.scope, key, f"unknown syntraf variable{hint}"))


def _parse_host(scope: Vars, name: str, problems: list[Problem]) -> Host | None:
    _check_unknown_keys(scope, problems)
    check = _Collector(problems, scope)
    before = len(problems)
    value = {**HOST_DEFAULTS, **scope.values}
    uid = value.get("syntraf_uid", name)
    if not isinstance(uid, str) or not UID.match(uid):
        check.add(
            "syntraf_uid",
            f"expected 1-64 letters, digits, '.', '_' or '-' (the default is the inventory "
            f"hostname), got {uid!r}",
        )
    address_key = next((k for k in ("syntraf_address", "ansible_host") if k in value), None)
    address = check.parse(
        address_key or "syntraf_address", value_parsers.parse_address, value.get(address_key, name)
    )
    port_range = check.parse(
        "syntraf_listen_port_range", value_parsers.parse_port_range, value["syntraf_listen_port_range"]
    )
    behind_nat = check.parse("syntraf_behind_nat", value_parsers.parse_bool, value["syntraf_behind_nat"])
    include_only = _parse_uid_lists("syntraf_include_only", value["syntraf_include_only"], check)
    exclude = _parse_uid_lists("syntraf_exclude", value["syntraf_exclude"], check)
    override_dst = _parse_overrides(value["syntraf_override_dst"], check)
    max_bw = value["syntraf_max_bandwidth"]
    max_bw = (
        None
        if max_bw is None
        else check.parse("syntraf_max_bandwidth", value_parsers.parse_bandwidth, max_bw)
    )
    databases = _parse_databases(value["syntraf_influxdb"], check)
    binary = value["syntraf_iperf3_binary"]
    if not isinstance(binary, str) or not binary.startswith("/"):
        check.add("syntraf_iperf3_binary", f"expected an absolute path, got {binary!r}")
    duration = check.parse(
        "syntraf_test_duration",
        lambda v: value_parsers.within("iperf3.test_duration", v),
        value["syntraf_test_duration"],
    )
    spool = check.parse(
        "syntraf_spool_max_bytes",
        lambda v: value_parsers.within("spool.max_bytes", v),
        value["syntraf_spool_max_bytes"],
    )
    log_level = value["syntraf_log_level"]
    if log_level not in LOG_LEVELS:
        check.add("syntraf_log_level", f"expected one of {', '.join(LOG_LEVELS)}, got {log_level!r}")
    auth = check.parse("syntraf_iperf3_auth", value_parsers.parse_bool, value["syntraf_iperf3_auth"])
    version = value["syntraf_iperf3_version"]
    if isinstance(version, float):  # 3.20 unquoted is the number 3.2: the version is lost
        check.add(
            "syntraf_iperf3_version",
            f'YAML reads an unquoted version as the number {version!r}; quote it ("3.20", not 3.20)',
        )
    elif version is not None and not re.match(r"^\d+\.\d+(\.\d+)?$", str(version)):
        check.add("syntraf_iperf3_version", f"expected a version like 3.12, got {version!r}")
    skew = check.parse(
        "syntraf_iperf3_time_skew_threshold",
        lambda v: value_parsers.within("auth.time_skew_threshold", v),
        value["syntraf_iperf3_time_skew_threshold"],
    )
    # A host whose mesh settings are wrong is left out of the mesh; one with only a wrong local setting
    # (log level, spool, databases...) stays in it, so later stages (ports, bandwidth) still report theirs.
    if any(_variable(problem.key) in MESH_KEYS for problem in problems[before:]):
        return None
    return Host(
        name=name,
        uid=uid,
        address=address,
        behind_nat=behind_nat,
        port_range=port_range,
        include_only=include_only,
        exclude=exclude,
        override_dst=override_dst,
        max_bandwidth_bps=max_bw,
        databases=databases,
        iperf3_binary=binary,
        test_duration=HOST_DEFAULTS["syntraf_test_duration"] if duration is None else duration,
        spool_max_bytes=spool,
        log_level=log_level,
        auth=bool(auth),
        iperf3_version=None if version is None else str(version),
        time_skew_threshold=skew,
        source=scope,
    )


def _variable(path: str) -> str:
    """The variable of a problem's key: `syntraf_exclude` for `syntraf_exclude.voip`."""
    return re.split(r"[.\[]", path, maxsplit=1)[0]


def _parse_uid_lists(key: str, value: Any, check: _Collector) -> dict[str, frozenset[str]]:
    """`{group: [uid, ...]}` as used by syntraf_include_only and syntraf_exclude."""
    if not isinstance(value, dict):
        check.add(key, f"expected a mapping: mesh group -> list of host uids, got {value!r}")
        return {}
    result: dict[str, frozenset[str]] = {}
    for group, uids in value.items():
        if uids is None:
            uids = []
        if not isinstance(uids, list) or not all(isinstance(u, str) for u in uids):
            check.add(f"{key}.{group}", f"expected a list of host uids, got {uids!r}")
            continue
        result[group] = frozenset(uids)
    return result


def _parse_overrides(value: Any, check: _Collector) -> dict[str, str]:
    if not isinstance(value, dict):
        check.add("syntraf_override_dst", f"expected a mapping: host uid -> address, got {value!r}")
        return {}
    result = {}
    for uid, address in value.items():
        parsed = check.parse(f"syntraf_override_dst.{uid}", value_parsers.parse_address, address)
        if parsed is not None:
            result[str(uid)] = parsed
    return result


def _parse_databases(value: Any, check: _Collector) -> tuple[Database, ...]:
    if not isinstance(value, list):
        check.add(
            "syntraf_influxdb", f"expected a list of databases (url, org, bucket, token), got {value!r}"
        )
        return ()
    databases = []
    for index, entry in enumerate(value):
        path = f"syntraf_influxdb[{index}]"
        if not isinstance(entry, dict):
            check.add(path, f"expected a mapping with url, org, bucket and token, got {type(entry).__name__}")
            continue
        for key in sorted(set(entry) - set(DATABASE_KEYS)):
            check.add(f"{path}.{key}", f"unknown setting (known: {', '.join(DATABASE_KEYS)})")
        for key in ("url", "org", "bucket", "token"):
            if not isinstance(entry.get(key), str) or not entry[key].strip():
                # Never echo the token: it is a secret.
                shown = "" if key == "token" else f", got {entry.get(key)!r}"
                check.add(f"{path}.{key}", f"required, a non-empty string{shown}")
        url = entry.get("url")
        if isinstance(url, str) and url.strip():
            check.parse(f"{path}.url", bounds.check_url, url)
        token = entry.get("token")
        if isinstance(token, str) and token.strip():
            check.parse(f"{path}.token", lambda t: bounds.check_token(t.strip()), token)
        name = entry.get("name", f"influxdb-{index}")
        if not isinstance(name, str) or not NAME.match(name):
            check.add(f"{path}.name", f"expected 1-50 letters, digits, '_' or '-', got {name!r}")
        ca_path = entry.get("ca_path")
        if ca_path is not None and (not isinstance(ca_path, str) or not ca_path.startswith("/")):
            check.add(f"{path}.ca_path", f"expected an absolute path on the host, got {ca_path!r}")
        verify_tls = check.parse(
            f"{path}.verify_tls", value_parsers.parse_bool, entry.get("verify_tls", True)
        )
        databases.append(
            Database(
                str(name),
                str(url),
                str(entry.get("org")),
                str(entry.get("bucket")),
                ca_path,
                bool(verify_tls),
            )
        )
    names = [d.name for d in databases]
    for name in sorted({n for n in names if names.count(n) > 1}):
        check.add("syntraf_influxdb", f"database name {name!r} is used twice (names must be unique)")
    return tuple(databases)


def _check_uids(hosts_by_name: dict[str, Host | None], problems: list[Problem]) -> dict[str, str]:
    """Inventory hostname -> uid of every valid host; a uid used by two hosts is a problem."""
    owners: dict[str, list[str]] = {}
    for name, host in hosts_by_name.items():
        if host is not None:
            owners.setdefault(host.uid, []).append(name)
    for names in owners.values():
        if len(names) > 1:
            for name in names:
                others = ", ".join(n for n in names if n != name)
                problems.append(
                    hosts_by_name[name].problem(
                        "syntraf_uid", f"{name} has the same uid as {others}: uids must be unique"
                    )
                )
    return {name: host.uid for name, host in hosts_by_name.items() if host is not None}


def _check_references(
    hosts: dict[str, Host],
    groups: dict[str, MeshGroup],
    hostnames_by_group: dict[str, list[str]],
    problems: list[Problem],
) -> None:
    """include_only/exclude name groups the host is in and members of them; override_dst names known hosts."""
    groups_of: dict[str, set[str]] = {}
    for group, names in hostnames_by_group.items():
        for name in names:
            groups_of.setdefault(name, set()).add(group)
    for host in hosts.values():
        check = _Collector(problems, host.source)
        for key, lists in (("syntraf_include_only", host.include_only), ("syntraf_exclude", host.exclude)):
            for group, uids in lists.items():
                if group not in groups_of.get(host.name, set()):
                    check.add(f"{key}.{group}", f"{host.uid} is not a member of a mesh group named {group!r}")
                    continue
                if host.uid in uids:
                    check.add(f"{key}.{group}", f"{host.uid} lists itself")
                if group in groups:  # else the group itself has a problem already
                    for uid in sorted(uids - set(groups[group].members) - {host.uid}):
                        check.add(f"{key}.{group}", f"{uid!r} is not a member of mesh group {group}")
        for uid in sorted(set(host.override_dst) - set(hosts)):
            check.add(f"syntraf_override_dst.{uid}", f"{uid!r} is not the uid of a host in a mesh group")


def _check_test_duration(
    hosts: dict[str, Host], groups: dict[str, MeshGroup], problems: list[Problem]
) -> None:
    """A bounded test must last at least two reporting intervals, or it reports nothing useful."""
    for group in groups.values():
        for uid in group.members:
            host = hosts[uid]
            if host.test_duration < 2 * group.traffic.interval:
                message = (
                    f"{host.test_duration} s is shorter than two intervals of mesh group {group.name} "
                    f"({group.traffic.interval:g} s)"
                )
                problems.append(host.problem("syntraf_test_duration", message))


def _check_shared_addresses(hosts: dict[str, Host], problems: list[Problem]) -> None:
    """Hosts at one address listen on one set of ports: their ranges must not overlap. Hosts behind NAT
    never listen (they start every test), so they may share their NAT's address."""
    listeners: dict[str, list[Host]] = {}
    for host in hosts.values():
        if not host.behind_nat:
            listeners.setdefault(host.address.lower(), []).append(host)
    for same in listeners.values():
        for host in same:
            low, high = host.port_range
            clash = [o for o in same if o is not host and o.port_range[0] <= high and low <= o.port_range[1]]
            if clash:
                others = name_list([f"{o.name} ({o.port_range[0]}-{o.port_range[1]})" for o in clash])
                message = (
                    f"{host.name} has the address {host.address} of {others}, and its listen port range "
                    f"{low}-{high} overlaps theirs: give each host at one address its own range"
                )
                source = host.source
                where = source.origin("syntraf_listen_port_range") or source.origin(
                    "syntraf_address" if "syntraf_address" in source.values else "ansible_host"
                )
                problems.append(Problem(where, source.scope, "syntraf_listen_port_range", message))
