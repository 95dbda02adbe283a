"""Start the WAN lab's delay line (in the core's namespace, detached, so it outlives `lab up`) and talk
to it over its Unix socket: `show` (settings and ground-truth counters) and `set` (change links at runtime).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

from syntraf_ctl.lab.errors import LabError
from syntraf_ctl.lab.state import LabState
from syntraf_ctl.lab.wan.spec import parse_changes, parse_link_names
from syntraf_ctl.lab.wan.topology import core_netns, site_index


def start_delay_line(state: LabState, timeout: float = 20.0) -> subprocess.Popen:
    """Write the delay line's configuration, start it in the core and wait until it answers."""
    sites = {site_index(state, site): site for site in state.sites}
    state.wan_config.write_text(json.dumps({"sites": sites, "links": state.wan}, indent=2) + "\n")
    with open(state.wan_log, "ab") as log:
        process = subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                core_netns(state),
                sys.executable,
                "-m",
                "syntraf_ctl.lab.wan.delayline",
                "--config",
                str(state.wan_config),
                "--socket",
                str(state.wan_socket),
            ],  # fmt: skip
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    deadline = time.monotonic() + timeout
    while True:
        try:
            show(state)
            return process
        except LabError:
            if process.poll() is not None or time.monotonic() > deadline:
                tail = "\n".join(state.wan_log.read_text(errors="replace").splitlines()[-5:])
                raise LabError(f"the delay line did not start (see {state.wan_log}):\n{tail}") from None
            time.sleep(0.1)


def request(state: LabState, message: dict, timeout: float = 10.0) -> dict:
    if not state.sites:
        raise LabError(f"lab {state.name} has no sites (bring it up with --sites)")
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.settimeout(timeout)
            connection.connect(str(state.wan_socket))
            connection.sendall(json.dumps(message).encode() + b"\n")
            with connection.makefile("r") as stream:
                reply = json.loads(stream.readline())
    except (OSError, ValueError) as error:
        raise LabError(f"the delay line of lab {state.name} does not answer: {error}") from error
    if "error" in reply:
        raise LabError(reply["error"])
    return reply


def show(state: LabState) -> dict:
    """{"links": {"a>b": {"settings", "text", "held"}}, "flows": [counters per 5-tuple], ...}."""
    return request(state, {"op": "show"})


def set_links(state: LabState, link: str, words: list[str]) -> dict:
    """`set_links(state, "a-b", ["delay=150ms"])`: change those settings of those links, keep the others."""
    names = parse_link_names(link, list(state.sites))
    return request(state, {"op": "set", "links": names, "changes": parse_changes(words)})


COUNTERS = ("received", "forwarded", "dropped", "duplicated", "reordered", "remarked")


def link_totals(reply: dict) -> dict[str, dict[str, int]]:
    """The ground-truth counters of a `show` reply, summed per link."""
    totals = {name: dict.fromkeys(COUNTERS, 0) for name in reply["links"]}
    for flow in reply["flows"]:
        if flow["link"] in totals:
            for counter in COUNTERS:
                totals[flow["link"]][counter] += flow[counter]
    return totals


def wan_summary(reply: dict) -> str:
    """One line per link: its settings, what it holds now, and its counters since `lab up`."""
    totals = link_totals(reply)
    lines = [f"{'link':<12} {'held':>5} " + " ".join(f"{name:>10}" for name in COUNTERS) + "  settings"]
    for name, link in reply["links"].items():
        counts = " ".join(f"{totals[name][counter]:>10}" for counter in COUNTERS)
        lines.append(f"{name:<12} {link['held']:>5} {counts}  {link['text']}")
    lines.append(
        f"in flight: {reply['in_flight']}; dropped by the kernel queue: {reply['kernel_queue_drops']}"
    )
    return "\n".join(lines)
