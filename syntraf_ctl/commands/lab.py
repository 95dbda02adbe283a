"""`syntraf-ctl lab up|down|status`: a local lab of systemd-nspawn hosts, a database and their inventory."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path

from syntraf_ctl.lab import hosts
from syntraf_ctl.lab.errors import LabError
from syntraf_ctl.lab.lifecycle import LabConfig, UpReport, lab_down, lab_up
from syntraf_ctl.lab.preflight import unmet_requirements
from syntraf_ctl.lab.rootfs import DEFAULT_SUITE
from syntraf_ctl.lab.ssh import SSH_OPTIONS
from syntraf_ctl.lab.state import DEFAULT_DB_PORT, DEFAULT_NAME, DEFAULT_SUBNET, load_state
from syntraf_ctl.lab.tsdb import DatabaseError, wait_healthy
from syntraf_ctl.lab.wan.control import set_links, show, wan_summary
from syntraf_ctl.lab.wan.spec import parse_sites

EXIT_UNSUPPORTED = 2


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "lab",
        help="a local lab: N systemd hosts (nspawn) on an isolated bridge, a database and their inventory",
        description="Bring up or tear down a local lab (needs root and Linux). See docs/lab.md.",
    )
    actions = parser.add_subparsers(dest="lab_action", required=True, metavar="ACTION")
    up = actions.add_parser(
        "up", help="build the image once, boot the hosts, start the database, write the inventory"
    )
    up.add_argument("--nodes", type=int, help="number of hosts (default 3, or as many as --sites places)")
    up.add_argument(
        "--suite",
        default=DEFAULT_SUITE,
        help=f"Debian suite of the hosts (default {DEFAULT_SUITE}), or one per host separated by commas",
    )
    up.add_argument(
        "--subnet", default=DEFAULT_SUBNET, help=f"the lab's IPv4 subnet (default {DEFAULT_SUBNET})"
    )
    up.add_argument(
        "--db-port", type=int, default=DEFAULT_DB_PORT, help="database port on the bridge address"
    )
    up.add_argument(
        "--inventory-dir", type=Path, default=Path("inventories/lab"), help="where to write the inventory"
    )
    up.add_argument("--mirror", help="Debian mirror for the image (default: the one apt uses)")
    up.add_argument("--sites", help="WAN lab: sites behind routers, NAME:HOSTS,... (e.g. a:2,b:2)")
    up.add_argument("--nat", default="", help="WAN lab: sites behind NAT (comma-separated)")
    up.add_argument(
        "--wan",
        action="append",
        default=[],
        help="WAN lab: impairments of links between sites, e.g. 'a-b delay=40ms loss=0.5%%' (repeatable)",
    )
    wan = actions.add_parser("wan", help="WAN lab: show or change the impairments between sites")
    wan_actions = wan.add_subparsers(dest="wan_action", required=True, metavar="WAN_ACTION")
    show = wan_actions.add_parser("show", help="links, their settings and ground-truth counters")
    show.add_argument("--json", action="store_true", help="everything the delay line knows, as JSON")
    change = wan_actions.add_parser("set", help="change links at runtime: LINK KEY=VALUE ... (or clean)")
    change.add_argument("link", help="SITE-SITE (both directions), SITE>SITE, or all")
    change.add_argument("settings", nargs="+", help="e.g. delay=150ms hold=on loss=1%% clean")
    down = actions.add_parser(
        "down", help="stop and remove everything of the lab (also leftovers of a killed run)"
    )
    status = actions.add_parser("status", help="the lab's hosts, their state and the database")
    for action in (up, down, status, show, change):
        action.add_argument("--name", default=DEFAULT_NAME, help=f"lab name (default {DEFAULT_NAME})")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    problem = unmet_requirements()
    if problem:
        print(f"syntraf-ctl lab: {problem}", file=sys.stderr)
        return EXIT_UNSUPPORTED
    try:
        if args.lab_action == "up":
            return _up(args)
        if args.lab_action == "down":
            lab_down(args.name)
            return 0
        if args.lab_action == "wan":
            return _wan(args)
        return _status(args.name)
    except LabError as error:
        print(f"syntraf-ctl lab {args.lab_action}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _stop_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through `lab_up`, which removes what it created


def _up(args: argparse.Namespace) -> int:
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    sites = parse_sites(args.sites) if args.sites else {}
    config = LabConfig(
        name=args.name,
        nodes=args.nodes or sum(sites.values()) or 3,
        subnet=args.subnet,
        suites=tuple(suite.strip() for suite in args.suite.split(",")),
        inventory_dir=args.inventory_dir,
        db_port=args.db_port,
        mirror=args.mirror,
        sites=sites or None,
        nat_sites=tuple(filter(None, args.nat.split(","))),
        wan=tuple(args.wan),
    )
    print(summary(lab_up(config), args.inventory_dir))
    return 0


def summary(report: UpReport, inventory_dir: Path) -> str:
    state = report.state
    named = "" if state.name == DEFAULT_NAME else f" --name {state.name}"
    down = f"syntraf-ctl lab down{named}"
    lines = [f"lab {state.name} is up: {len(state.hosts)} hosts, booted in {report.timings['boot']:.1f} s"]
    for host in state.hosts:
        failed = report.failed_units.get(host.name)
        note = f"  (degraded: failed units {', '.join(failed)})" if failed else ""
        wan = f"  site {host.site} {host.wan_address}" if host.site else ""
        nat = " (behind NAT)" if host.site in state.nat_sites else ""
        lines.append(f"  {host.name:<6} {host.address:<15} Debian {host.suite}{wan}{nat}{note}")
    if state.sites:
        lines.append(f"wan        syntraf-ctl lab wan show{named}")
    lines += [
        f"database   {state.db_url}  (VictoriaMetrics, InfluxDB v2 write API; org/bucket/token not checked)",
        f"inventory  {inventory_dir}  (try: ansible -i {inventory_dir} all -m ping)",
        f"ssh        ssh -i {state.ssh_key} {SSH_OPTIONS} root@{state.hosts[0].address}",
        f"tear down  {down}",
    ]
    return "\n".join(lines)


def _wan(args: argparse.Namespace) -> int:
    state = load_state(args.name)
    if state is None:
        raise LabError(f"lab {args.name} is not up")
    if args.wan_action == "set":
        set_links(state, args.link, args.settings)
    reply = show(state)
    print(json.dumps(reply, indent=1) if getattr(args, "json", False) else wan_summary(reply))
    return 0


def _status(name: str) -> int:
    state = load_state(name)
    if state is None:
        print(f"lab {name} is not up")
        return 1
    healthy = True
    for host in state.hosts:
        if hosts.leader_pid(host) is None:
            condition = "stopped"
        else:
            condition = hosts.exec_in(host, ["systemctl", "is-system-running"], check=False).stdout.strip()
        healthy = healthy and condition == "running"
        print(f"  {host.name:<6} {host.address:<15} {condition}")
    try:
        wait_healthy(state.db_url, timeout=2)
        database = "healthy"
    except DatabaseError:
        database, healthy = "not answering", False
    print(f"database   {state.db_url}  {database}")
    if state.sites:
        try:
            show(state)
            delay_line = "running"
        except LabError:
            delay_line, healthy = "not answering", False
        print(f"delay line {state.wan_socket}  {delay_line}")
    print(f"inventory  {state.inventory_dir}")
    return 0 if healthy else 1
