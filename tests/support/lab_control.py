"""A running lab as an object, for tests and tools: its hosts, inventory and database, and what can be done
to its hosts (run a command over SSH or with nsenter, reboot, cut the network between two of them).
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

from syntraf_ctl.lab import hosts
from syntraf_ctl.lab.errors import LabError
from syntraf_ctl.lab.lifecycle import add_host, remove_host, set_groups
from syntraf_ctl.lab.network import netns_run, nft_apply, nft_delete_table
from syntraf_ctl.lab.ssh import ssh_run
from syntraf_ctl.lab.state import MESH_GROUPS, STATE_ROOT, Host, LabState, load_state

PARTITION_TABLE = "syntraf_lab_partition"

# Drops everything to and from the addresses in @peers: an outage, as a dead link looks (no reject).
PARTITION_RULESET = f"""
table inet {PARTITION_TABLE} {{
  set peers {{ type ipv4_addr; }}
  chain input {{ type filter hook input priority -10; policy accept; ip saddr @peers drop; }}
  chain output {{ type filter hook output priority -10; policy accept; ip daddr @peers drop; }}
}}
"""


class Lab:
    def __init__(self, state: LabState, failed_units: dict[str, list[str]] | None = None) -> None:
        self.state = state
        self.failed_units = failed_units or {}  # units that failed at boot, per host (a degraded boot)

    @classmethod
    def load(cls, name: str, state_root: Path = STATE_ROOT) -> Lab:
        state = load_state(name, state_root)
        if state is None:
            raise LabError(f"lab {name} is not up")
        return cls(state)

    @property
    def name(self) -> str:
        return self.state.name

    @property
    def inventory(self) -> Path:
        """The inventory directory (what `-i` takes): hosts.yml and group_vars/all.yml."""
        return Path(self.state.inventory_dir)

    @property
    def db_url(self) -> str:
        return self.state.db_url

    @property
    def ssh_key(self) -> Path:
        return self.state.ssh_key

    @property
    def host_names(self) -> list[str]:
        return [host.name for host in self.state.hosts]

    @property
    def addresses(self) -> dict[str, str]:
        return {host.name: host.address for host in self.state.hosts}

    def host(self, name: str) -> Host:
        return self.state.host(name)

    def ssh(
        self, host: str, command: str, *, check: bool = True, timeout: float = 120, input: str | None = None
    ) -> subprocess.CompletedProcess:
        """Run a shell command on `host` as root over real SSH with the lab's key."""
        return ssh_run(
            self.ssh_key, self.host(host).address, command, check=check, timeout=timeout, input=input
        )

    def exec(
        self,
        host: str,
        argv: list[str],
        *,
        check: bool = True,
        timeout: float = 120,
        input: str | None = None,
    ) -> subprocess.CompletedProcess:
        """Run a command inside `host` with nsenter: no SSH, so it works in a partition or without sshd."""
        return hosts.exec_in(self.host(host), argv, check=check, timeout=timeout, input=input)

    def netns_run(self, host: str, argv: list[str], *, check: bool = True) -> subprocess.CompletedProcess:
        """Run a command of this machine in `host`'s network namespace (e.g. nft, ip, ss)."""
        return netns_run(self.host(host).netns, argv, check=check)

    def reboot(self, host: str, timeout: float = 90) -> list[str]:
        """Reboot `host` from inside and wait until systemd and sshd are back; return units that failed."""
        return hosts.reboot(self.host(host), self.ssh_key, timeout)

    def add_host(self, suite: str | None = None, groups: Sequence[str] = MESH_GROUPS) -> str:
        """Boot one more host (`lab<N+1>`), in the inventory `groups`; return its name."""
        host, failed = add_host(self.state, suite, groups)
        self.failed_units[host.name] = failed
        return host.name

    def remove_host(self, host: str) -> None:
        """Stop `host` for good, remove it and take it out of the inventory."""
        remove_host(self.state, host)
        self.failed_units.pop(host, None)

    def set_groups(self, host: str, groups: Sequence[str]) -> None:
        """Make `host` a member of exactly the inventory `groups` (it keeps running; [] = no mesh group)."""
        set_groups(self.state, host, groups)

    def partition(self, a: str, b: str) -> None:
        """Drop all traffic between hosts `a` and `b` (both directions, both ends) until `heal`."""
        for here, there in ((a, b), (b, a)):
            netns = self.host(here).netns
            if netns_run(netns, ["nft", "list", "table", "inet", PARTITION_TABLE], check=False).returncode:
                nft_apply(netns, PARTITION_RULESET)
            nft_apply(netns, f"add element inet {PARTITION_TABLE} peers {{ {self.host(there).address} }}\n")

    def heal(self, a: str | None = None, b: str | None = None) -> None:
        """End the partition between `a` and `b`, or every partition of the lab when no host is named."""
        if a is None or b is None:
            for host in self.state.hosts:
                nft_delete_table(host.netns, "inet", PARTITION_TABLE)
            return
        for here, there in ((a, b), (b, a)):
            element = f"delete element inet {PARTITION_TABLE} peers {{ {self.host(there).address} }}\n"
            netns_run(self.host(here).netns, ["nft", "-f", "-"], check=False, input=element)
