"""Variables of one inventory scope with where each came from: what the pure core receives from Ansible."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Vars:
    """Templated variables of one scope (a host, or the `all` group) and where each value came from."""

    scope: str  # "host mtl-1" or "inventory"
    values: dict[str, Any]
    origins: dict[str, str] = field(default_factory=dict)  # "syntraf_exclude.voip" -> "host_vars/a.yml:3"
    failed: set[str] = field(default_factory=set)  # keys set but not templated (a problem says why)
    others: dict[str, str] = field(default_factory=dict)  # other syntraf_* variables set -> where (typos?)

    def origin(self, path: str) -> str:
        """The best known source of `path` (e.g. `syntraf_influxdb[0].url`), falling back to its parents."""
        while path:
            if path in self.origins:
                return self.origins[path]
            cut = max(path.rfind("."), path.rfind("["))
            path = path[:cut] if cut > 0 else ""
        return ""
