"""Isolated lab networks: one Linux bridge and one network namespace per host, joined by veth pairs.

Nothing here routes, NATs or forwards: traffic stays on the bridge (198.51.100.0/24, TEST-NET-2).
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


def netns_run(
    netns: str, argv: Sequence[str], *, check: bool = True, input: str | None = None
) -> subprocess.CompletedProcess:
    """Run a command inside a network namespace and return its completed process."""
    return subprocess.run(
        ["ip", "netns", "exec", netns, *argv], check=check, capture_output=True, text=True, input=input
    )


def nft_apply(netns: str, ruleset: str) -> None:
    """Load an nftables ruleset (nft -f syntax) inside a namespace."""
    netns_run(netns, ["nft", "-f", "-"], input=ruleset)


def nft_delete_table(netns: str, family: str, table: str) -> None:
    netns_run(netns, ["nft", "delete", "table", family, table], check=False)


@dataclass
class LabNetwork:
    """A bridge with an address for the host side, and namespaces attached to it.

    `prefix` makes every name unique (interface names are limited to 15 characters), so a run never
    collides with another one or with leftovers of a killed run, which `remove` also clears.
    """

    prefix: str
    host_address: str = "198.51.100.1"
    prefix_len: int = 24
    namespaces: dict[str, str] = field(default_factory=dict)

    @property
    def bridge(self) -> str:
        return f"{self.prefix}br"

    def create(self) -> None:
        self.remove()
        ip("link", "add", self.bridge, "type", "bridge")
        ip("addr", "add", f"{self.host_address}/{self.prefix_len}", "dev", self.bridge)
        ip("link", "set", self.bridge, "up")

    def add_namespace(self, index: int, address: str) -> str:
        """Create namespace `<prefix>n<index>` with eth0 = `address` on the bridge; return its name."""
        netns = f"{self.prefix}n{index}"
        veth = f"{self.prefix}v{index}"
        ip("netns", "delete", netns, check=False)
        ip("netns", "add", netns)
        ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", netns)
        ip("link", "set", veth, "master", self.bridge, "up")
        ip("-n", netns, "addr", "add", f"{address}/{self.prefix_len}", "dev", "eth0")
        ip("-n", netns, "link", "set", "eth0", "up")
        ip("-n", netns, "link", "set", "lo", "up")
        self.namespaces[netns] = address
        return netns

    def remove(self) -> None:
        """Delete the bridge and every namespace of this prefix (hosts, and a WAN lab's routers and core;
        also those of an earlier, killed run)."""
        listed = ip("netns", "list", check=False).stdout.split("\n")
        for line in listed:
            name = line.split(" ")[0]
            if name.startswith(self.prefix):
                ip("netns", "delete", name, check=False)
        ip("link", "delete", self.bridge, check=False)
        self.namespaces.clear()
