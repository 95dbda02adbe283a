"""A lab's life: `lab up` (image, network, database, hosts, inventory), hosts added to or removed from the
running lab, and `lab down`, which leaves nothing behind. `up` first clears what a killed earlier run of
the same lab left, which is also all `down` needs: it works from the lab's name and paths alone.
"""

from __future__ import annotations

import fcntl
import ipaddress
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from syntraf_ctl.lab import hosts
from syntraf_ctl.lab.cgroups import remove_cgroups
from syntraf_ctl.lab.errors import LabError, SubnetInUse
from syntraf_ctl.lab.lab_inventory import (
    new_token,
    remove_inventory,
    render_inventory,
    rewrite_hosts,
    write_inventory,
)
from syntraf_ctl.lab.mounts import remove_tree
from syntraf_ctl.lab.network import LabNetwork
from syntraf_ctl.lab.preflight import check_requirements, unmet_wan_requirements
from syntraf_ctl.lab.rootfs import CACHE_ROOT, DEFAULT_SUITE, ensure_rootfs
from syntraf_ctl.lab.ssh import generate_key
from syntraf_ctl.lab.state import (
    DEFAULT_DB_PORT,
    DEFAULT_NAME,
    DEFAULT_SUBNET,
    MESH_GROUPS,
    STATE_ROOT,
    Host,
    LabState,
    add_planned_host,
    load_state,
    network_prefix,
    plan_lab,
    remove_planned_host,
    set_host_groups,
    state_dir,
    validate_name,
)
from syntraf_ctl.lab.tsdb import DatabaseError, start_victoria_metrics
from syntraf_ctl.lab.wan import topology
from syntraf_ctl.lab.wan.control import start_delay_line

Say = Callable[[str], None]
NETWORK_LOCK = Path("/run/syntraf-lab-network.lock")


@dataclass(frozen=True)
class LabConfig:
    name: str = DEFAULT_NAME
    nodes: int = 3
    subnet: str = DEFAULT_SUBNET
    suites: tuple[str, ...] = (DEFAULT_SUITE,)  # one for all hosts, or one per host
    inventory_dir: Path = Path("inventories/lab")
    db_port: int = DEFAULT_DB_PORT
    state_root: Path = STATE_ROOT
    cache_root: Path = CACHE_ROOT
    mirror: str | None = None
    sites: dict[str, int] | None = None  # WAN lab: site -> number of hosts (None: one LAN, as before)
    nat_sites: tuple[str, ...] = ()
    wan: tuple[str, ...] = ()  # link impairments, `--wan` syntax (spec.parse_wan)


@dataclass
class UpReport:
    state: LabState
    failed_units: dict[str, list[str]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)


def host_suites(config: LabConfig) -> list[str]:
    if len(config.suites) == 1:
        return list(config.suites) * config.nodes
    if len(config.suites) != config.nodes:
        raise LabError(f"--suite: give one suite, or one per host ({config.nodes}); got {len(config.suites)}")
    return list(config.suites)


def lab_up(config: LabConfig, say: Say = print) -> UpReport:
    """Bring lab `config.name` up from scratch; on any failure, take down what was created and re-raise."""
    check_requirements()
    state = plan_lab(
        config.name,
        config.nodes,
        config.subnet,
        host_suites(config),
        config.db_port,
        config.inventory_dir,
        config.state_root,
    )
    if config.sites:
        problem = unmet_wan_requirements()
        if problem:
            raise LabError(problem)
        topology.plan_sites(state, config.sites, list(config.nat_sites), list(config.wan))
    elif config.nat_sites or config.wan:
        raise LabError("--nat and --wan need --sites")
    lab_down(config.name, config.state_root, quiet=True)
    remove_inventory(Path(state.inventory_dir))  # refuses early when the directory is not the lab's
    report = UpReport(state)
    started = time.monotonic()
    images = {
        suite: ensure_rootfs(suite, config.cache_root, config.mirror, say)
        for suite in set(host_suites(config))
    }
    report.timings["image"] = time.monotonic() - started
    try:
        _bring_up(state, images, report, say)
    except BaseException as error:
        if not isinstance(error, SubnetInUse):  # that one is raised before anything is created
            say(f"lab: bringing lab {state.name} up failed: removing what was created")
        lab_down(config.name, config.state_root, quiet=True)
        if isinstance(error, (subprocess.CalledProcessError, DatabaseError, OSError)):
            raise LabError(f"bringing lab {state.name} up failed: {_describe(error)}") from error
        raise
    return report


def _describe(error: BaseException) -> str:
    if isinstance(error, subprocess.CalledProcessError):
        output = (error.stderr or "").strip() if isinstance(error.stderr, str) else ""
        return f"`{' '.join(map(str, error.cmd))}` exited with status {error.returncode}: {output}"
    return str(error)


def network_up(state: LabState) -> None:
    """The lab's network: bridge, a namespace per host, and in a WAN lab the sites' routers, the core and
    its delay line. The state is saved first, so that `lab_down(state.name)` removes all of it."""
    network = LabNetwork(state.network_prefix, state.bridge_address, _prefix_len(state))
    with open(NETWORK_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two labs starting at once must not both take the same subnet
        _check_subnet_free(state)
        network.create()
    Path(state.state_dir).mkdir(parents=True, exist_ok=True)
    state.save()  # before anything else, so that `down` finds everything even if `up` is killed half way
    for index, host in enumerate(state.hosts, start=1):
        network.add_namespace(index, host.address)
    if state.sites:
        topology.build(state)
        start_delay_line(state)


def _bring_up(state: LabState, images: dict[str, Path], report: UpReport, say: Say) -> None:
    step = time.monotonic()
    network_up(state)
    generate_key(state.ssh_key, f"syntraf-lab-{state.name}")
    public_key = state.ssh_key.with_suffix(".pub").read_text()
    database = start_victoria_metrics(
        state.tsdb_dir, f"{state.bridge_address}:{state.db_port}", state.tsdb_log
    )
    state.db_pid = database.pid
    state.save()
    for host in state.hosts:
        hosts.prepare(host, images[host.suite], public_key)
        hosts.start(host)
    report.timings["network, database, start"] = time.monotonic() - step
    step = time.monotonic()
    say(f"lab: booting {len(state.hosts)} hosts ...")
    for host in state.hosts:
        failed = hosts.wait_booted(host, state.ssh_key)
        if failed:
            report.failed_units[host.name] = failed
    report.timings["boot"] = time.monotonic() - step
    write_inventory(Path(state.inventory_dir), render_inventory(state, new_token()))


def add_host(
    state: LabState,
    suite: str | None = None,
    groups: Sequence[str] = MESH_GROUPS,
    cache_root: Path = CACHE_ROOT,
    say: Say = print,
) -> tuple[Host, list[str]]:
    """Boot one more host in the running lab (`lab<N+1>`, the next address; suite: the last host's) as a
    member of the inventory `groups`, and add it to the inventory; return it and its failed units."""
    if state.sites:
        raise LabError(f"lab {state.name} has sites: adding a host to a WAN lab is not supported")
    image = ensure_rootfs(suite or state.hosts[-1].suite, cache_root, say=say)
    host = add_planned_host(state, suite or state.hosts[-1].suite, groups)
    state.save()
    try:
        network = LabNetwork(state.network_prefix, state.bridge_address, _prefix_len(state))
        network.add_namespace(int(host.name.removeprefix("lab")), host.address)
        hosts.prepare(host, image, state.ssh_key.with_suffix(".pub").read_text())
        hosts.start(host)
        failed = hosts.wait_booted(host, state.ssh_key)
    except BaseException:
        remove_host(state, host.name)
        raise
    rewrite_hosts(state)
    return host, failed


def remove_host(state: LabState, name: str) -> None:
    """Stop host `name` for good, remove all of it and take it out of the inventory."""
    hosts.remove(state.host(name))
    remove_planned_host(state, name)
    state.save()
    rewrite_hosts(state)


def set_groups(state: LabState, name: str, groups: Sequence[str]) -> None:
    """Make host `name` a member of exactly the inventory `groups` (in hosts.yml; the host keeps running)."""
    set_host_groups(state, name, groups)
    state.save()
    rewrite_hosts(state)


def _prefix_len(state: LabState) -> int:
    return ipaddress.IPv4Network(state.subnet).prefixlen


def _check_subnet_free(state: LabState) -> None:
    """Two bridges on one subnet would send the lab's traffic to the wrong one: refuse, naming the other."""
    ours = ipaddress.IPv4Network(state.subnet)
    listed = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True, check=True)
    for line in listed.stdout.splitlines():
        fields = line.split()
        interface, address = fields[1], fields[3]
        if ipaddress.IPv4Interface(address).network.overlaps(ours):
            raise SubnetInUse(
                f"subnet {state.subnet} overlaps {address} on interface {interface}: another lab or "
                "test network is up: choose a free subnet with --subnet"
            )


def lab_down(name: str = DEFAULT_NAME, state_root: Path = STATE_ROOT, quiet: bool = False) -> bool:
    """Remove lab `name` completely (also the leftovers of a killed run); True if there was anything."""
    validate_name(name)
    directory = state_dir(name, state_root)
    state = load_state(name, state_root) if directory.exists() else None
    found = directory.exists()
    hosts.stop_all(directory)  # and the database
    remove_cgroups(f"{name}-lab*")
    network = LabNetwork(network_prefix(name))
    found = found or _network_exists(network)
    network.remove()
    if state is not None:
        remove_inventory(Path(state.inventory_dir))
        for host in state.hosts:
            remove_tree(hosts.NSPAWN_PROPAGATE / host.machine)
    remove_tree(directory)
    if not quiet:
        print(f"lab: {name} is down" if found else f"lab: {name} was not up (nothing to remove)")
    return found


def _network_exists(network: LabNetwork) -> bool:
    bridge = subprocess.run(["ip", "link", "show", network.bridge], capture_output=True).returncode == 0
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
    return bridge or any(name.startswith(network.prefix) for name in listed)
