"""What a lab is made of: its names, addresses and paths (planned from its settings, pure), and the record of
a running lab in its state directory (`state.json`), which `down` and the test fixture read back.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from syntraf_ctl.lab.errors import LabError

STATE_ROOT = Path("/var/lib/syntraf-lab")
DEFAULT_NAME = "lab"
DEFAULT_SUBNET = "198.51.100.0/24"
DEFAULT_DB_PORT = 8428
MESH_GROUPS = ("voip", "bulk")  # the inventory groups of the example mesh (inventory.py)
FIRST_HOST_OFFSET = 11  # hosts are .11, .12, ... ; the bridge (and the database) is .1
MAX_NODES = 40

# Interface names have at most 15 characters: "sl" + name + "-v" + index must fit.
NAME_PATTERN = re.compile(r"[a-z][a-z0-9]{0,7}")


@dataclass(frozen=True)
class Host:
    name: str  # inventory name and hostname
    address: str
    netns: str
    machine: str  # systemd-nspawn machine name, unique across labs
    suite: str
    directory: str  # <state dir>/hosts/<name>
    site: str = ""  # in a WAN lab: the host's site, and its address there (`wan0`, the measured one)
    wan_address: str = ""

    @property
    def root(self) -> Path:
        """The overlay mount the container boots from."""
        return Path(self.directory) / "root"

    @property
    def upper(self) -> Path:
        return Path(self.directory) / "upper"

    @property
    def work(self) -> Path:
        return Path(self.directory) / "work"

    @property
    def log(self) -> Path:
        return Path(self.directory) / "console.log"


@dataclass
class LabState:
    name: str
    subnet: str
    bridge_address: str
    db_port: int
    state_dir: str
    inventory_dir: str
    hosts: list[Host] = field(default_factory=list)
    groups: dict[str, list[str]] = field(default_factory=dict)  # inventory group -> member hosts
    db_pid: int | None = None  # for information: `down` finds the database by its data directory
    sites: dict[str, list[str]] = field(default_factory=dict)  # WAN lab: site -> its hosts, in order
    nat_sites: list[str] = field(default_factory=list)
    wan: dict[str, dict] = field(default_factory=dict)  # link "a>b" -> impairment at `up` (spec.Impairment)

    @property
    def network_prefix(self) -> str:
        return network_prefix(self.name)

    @property
    def db_url(self) -> str:
        return f"http://{self.bridge_address}:{self.db_port}"

    @property
    def ssh_key(self) -> Path:
        return Path(self.state_dir) / "ssh" / "id_ed25519"

    @property
    def tsdb_dir(self) -> Path:
        return Path(self.state_dir) / "tsdb"

    @property
    def tsdb_log(self) -> Path:
        return Path(self.state_dir) / "victoria-metrics.log"

    @property
    def wan_socket(self) -> Path:
        """The delay line's control socket (WAN lab)."""
        return Path(self.state_dir) / "wan.sock"

    @property
    def wan_config(self) -> Path:
        return Path(self.state_dir) / "wan.json"

    @property
    def wan_log(self) -> Path:
        return Path(self.state_dir) / "delay-line.log"

    def host(self, name: str) -> Host:
        for host in self.hosts:
            if host.name == name:
                return host
        raise LabError(
            f"lab {self.name} has no host {name!r} (hosts: {', '.join(h.name for h in self.hosts)})"
        )

    def save(self) -> None:
        path = state_file(Path(self.state_dir))
        temporary = path.with_name(f".{path.name}.{os.getpid()}")
        temporary.write_text(json.dumps(asdict(self), indent=2) + "\n")
        temporary.replace(path)


def network_prefix(name: str) -> str:
    return f"sl{name}-"


def state_dir(name: str, state_root: Path = STATE_ROOT) -> Path:
    return state_root / name


def state_file(directory: Path) -> Path:
    return directory / "state.json"


def load_state(name: str, state_root: Path = STATE_ROOT) -> LabState | None:
    """The record of lab `name`, or None when there is none (never brought up, or already down)."""
    try:
        data = json.loads(state_file(state_dir(name, state_root)).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        raise LabError(f"cannot read the state of lab {name}: {error}") from error
    data["hosts"] = [Host(**host) for host in data["hosts"]]
    return LabState(**data)


def validate_name(name: str) -> None:
    if not NAME_PATTERN.fullmatch(name):
        raise LabError(
            f"lab name {name!r}: use 1 to 8 characters, lowercase letters and digits, starting with a letter "
            "(it prefixes interface names, which are limited to 15 characters)"
        )


def plan_lab(
    name: str,
    nodes: int,
    subnet: str,
    suites: list[str],
    db_port: int,
    inventory_dir: Path,
    state_root: Path = STATE_ROOT,
) -> LabState:
    """Names, addresses and paths of a lab with `nodes` hosts; `suites[i]` is host i's Debian suite."""
    validate_name(name)
    if not 1 <= nodes <= MAX_NODES:
        raise LabError(f"--nodes {nodes}: a lab has 1 to {MAX_NODES} hosts")
    if len(suites) != nodes:
        raise LabError(f"{len(suites)} suites given for {nodes} hosts")
    try:
        network = ipaddress.IPv4Network(subnet)
    except ValueError as error:
        raise LabError(f"--subnet {subnet}: not an IPv4 network ({error})") from error
    state = LabState(
        name=name,
        subnet=str(network),
        bridge_address=str(network[1]),
        db_port=db_port,
        state_dir=str(state_dir(name, state_root)),
        inventory_dir=str(inventory_dir.absolute()),
        groups={group: [] for group in MESH_GROUPS},
    )
    for suite in suites:
        add_planned_host(state, suite, MESH_GROUPS)
    return state


def add_planned_host(state: LabState, suite: str, groups: Sequence[str]) -> Host:
    """Add the next host (`lab<N+1>`, the next address) to `state`, as a member of the inventory `groups`."""
    index = max((int(host.name.removeprefix("lab")) for host in state.hosts), default=0) + 1
    network = ipaddress.IPv4Network(state.subnet)
    if index > MAX_NODES or network.num_addresses < FIRST_HOST_OFFSET + index + 1:
        raise LabError(
            f"subnet {state.subnet} has no address for host lab{index} (hosts start at .{FIRST_HOST_OFFSET})"
        )
    prefix = network_prefix(state.name)
    host = Host(
        name=f"lab{index}",
        address=str(network[FIRST_HOST_OFFSET + index - 1]),
        netns=f"{prefix}n{index}",
        machine=f"{state.name}-lab{index}",
        suite=suite,
        directory=str(Path(state.state_dir) / "hosts" / f"lab{index}"),
    )
    state.hosts.append(host)
    set_host_groups(state, host.name, groups)
    return host


def set_host_groups(state: LabState, name: str, groups: Sequence[str]) -> None:
    """Make host `name` a member of exactly the inventory `groups` (missing groups are added)."""
    state.host(name)
    for group in groups:
        state.groups.setdefault(group, [])
    for group, members in state.groups.items():
        if group in groups and name not in members:
            members.append(name)
        elif group not in groups and name in members:
            members.remove(name)


def remove_planned_host(state: LabState, name: str) -> None:
    state.hosts.remove(state.host(name))
    for members in state.groups.values():
        if name in members:
            members.remove(name)
