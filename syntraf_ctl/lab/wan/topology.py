"""The WAN lab's network: a router namespace per site and a core namespace joining them, each host's
`wan0` on its site's LAN, NAT on the routers of NAT sites, and the core's forwarded traffic sent to the
delay line (NFQUEUE). Hosts keep `eth0` on the lab's bridge for management (SSH, the database).

Addresses (the same in every lab: they exist only inside the lab's namespaces; 198.18.0.0/15 is the
benchmarking range, never routed; test labs' bridges use 198.19.0.0/24), for the site with index i
(1, 2, ... in the order given):
- site LAN 198.18.i.0/24: router .1, host labN at .(10+N) (as on the bridge);
- uplink 198.19.i.0/30: core .1, router .2 (what a NAT site's hosts appear as).
A NAT site's LAN has no route in the core, and its router drops new connections coming in.
"""

from __future__ import annotations

import itertools
from dataclasses import replace

from syntraf_ctl.lab.errors import LabError
from syntraf_ctl.lab.network import ip, netns_run, nft_apply
from syntraf_ctl.lab.state import FIRST_HOST_OFFSET, LabState
from syntraf_ctl.lab.wan.spec import parse_wan

# The site LANs and the uplinks 198.19.i.0/30 (i >= 1), which a NAT site's hosts appear as: hosts route
# replies to them through their router.
SITES_NETWORK = "198.18.0.0/15"
NAT_TABLE = "syntraf_lab_nat"

NAT_RULESET = f"""
table ip {NAT_TABLE} {{
  chain postrouting {{
    type nat hook postrouting priority srcnat; policy accept;
    oifname "uplink" masquerade
  }}
  chain forward {{
    type filter hook forward priority filter; policy accept;
    iifname "uplink" ct state new drop
  }}
}}
"""


def plan_sites(state: LabState, sites: dict[str, int], nat_sites: list[str], wan: list[str]) -> None:
    """Put the hosts into `sites` (site -> number of hosts, filled in host order) and record the links'
    initial impairments (`--wan` values)."""
    if sum(sites.values()) != len(state.hosts):
        raise LabError(f"--sites places {sum(sites.values())} hosts; the lab has {len(state.hosts)}")
    unknown = [site for site in nat_sites if site not in sites]
    if unknown:
        raise LabError(f"--nat {','.join(unknown)}: no such site (sites: {', '.join(sites)})")
    hosts = iter(list(state.hosts))
    state.hosts.clear()
    for index, (site, count) in enumerate(sites.items(), start=1):
        state.sites[site] = []
        for host in itertools.islice(hosts, count):
            number = int(host.name.removeprefix("lab"))
            state.hosts.append(replace(host, site=site, wan_address=lan_address(index, number)))
            state.sites[site].append(host.name)
    state.nat_sites = list(nat_sites)
    state.wan = {name: value.as_json() for name, value in parse_wan(wan, list(sites)).items()}


def lan_address(site_index: int, host_index: int) -> str:
    return f"198.18.{site_index}.{FIRST_HOST_OFFSET - 1 + host_index}"


def router_lan_address(site_index: int) -> str:
    return f"198.18.{site_index}.1"


def router_uplink_address(site_index: int) -> str:
    return f"198.19.{site_index}.2"


def core_address(site_index: int) -> str:
    return f"198.19.{site_index}.1"


def core_netns(state: LabState) -> str:
    return f"{state.network_prefix}core"


def router_netns(state: LabState, site: str) -> str:
    return f"{state.network_prefix}r{site}"


def site_index(state: LabState, site: str) -> int:
    return list(state.sites).index(site) + 1


def build(state: LabState) -> None:
    """Create the core, the site routers and each host's `wan0` (the hosts' namespaces exist already)."""
    core = core_netns(state)
    _new_router_netns(core)
    netns_run(core, ["iptables", "-A", "FORWARD", "-j", "NFQUEUE", "--queue-num", "0", "--queue-bypass"])
    for site, members in state.sites.items():
        index = site_index(state, site)
        router = router_netns(state, site)
        _new_router_netns(router)
        ip("-n", router, "link", "add", "lan", "type", "bridge")
        ip("-n", router, "addr", "add", f"{router_lan_address(index)}/24", "dev", "lan")
        ip("-n", router, "link", "set", "lan", "up")
        ip("-n", router, "link", "add", "uplink", "type", "veth", "peer", "name", f"s{index}", "netns", core)
        ip("-n", router, "addr", "add", f"{router_uplink_address(index)}/30", "dev", "uplink")
        ip("-n", router, "link", "set", "uplink", "up")
        ip("-n", router, "route", "add", SITES_NETWORK, "via", core_address(index))
        ip("-n", core, "addr", "add", f"{core_address(index)}/30", "dev", f"s{index}")
        ip("-n", core, "link", "set", f"s{index}", "up")
        if site in state.nat_sites:
            nft_apply(router, NAT_RULESET)
        else:
            ip("-n", core, "route", "add", f"198.18.{index}.0/24", "via", router_uplink_address(index))
        for name in members:
            _attach_host(state, name, router, index)


def _new_router_netns(netns: str) -> None:
    ip("netns", "add", netns)
    ip("-n", netns, "link", "set", "lo", "up")
    netns_run(netns, ["sysctl", "-qw", "net.ipv4.ip_forward=1"])


def _attach_host(state: LabState, name: str, router: str, index: int) -> None:
    host = state.host(name)
    port = f"h{name.removeprefix('lab')}"
    ip("-n", router, "link", "add", port, "type", "veth", "peer", "name", "wan0", "netns", host.netns)
    ip("-n", router, "link", "set", port, "master", "lan", "up")
    ip("-n", host.netns, "addr", "add", f"{host.wan_address}/24", "dev", "wan0")
    ip("-n", host.netns, "link", "set", "wan0", "up")
    ip("-n", host.netns, "route", "add", SITES_NETWORK, "via", router_lan_address(index))


def seen_as(state: LabState, name: str) -> str:
    """The source address of host `name`'s traffic once it left its site (its router's, behind NAT)."""
    host = state.host(name)
    if host.site in state.nat_sites:
        return router_uplink_address(site_index(state, host.site))
    return host.wan_address
