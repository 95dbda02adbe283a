"""A three-host mesh (a, b, c) compiled from a real inventory, and its observability pack."""

from __future__ import annotations

from pathlib import Path

import pytest

from syntraf_ctl.ansible_inventory import LoadedInventory
from syntraf_ctl.compile import compile_inventory
from syntraf_ctl.observability.pack import compile_pack
from syntraf_ctl.observability.thresholds import group_thresholds
from tests.core.conftest import write

TOKEN = "secret-token-7f3a"
HOSTS = """\
all: {children: {g: {hosts: {a: {ansible_host: 127.0.0.1}, b: {ansible_host: 127.0.0.2},
  c: {ansible_host: 127.0.0.3}}}}}
"""
GROUP_VARS = f"""\
syntraf_mesh_groups:
  g:
    {{packet_size: 172, packets_per_second: 50, dscp: ef, interval: 1, echo: {{port: 25300}},
     alerts: {{loss_pct: 2, for: 1m, window: 2m}}}}
syntraf_influxdb:
  - {{url: "http://127.0.0.1:8428", org: noc, bucket: syntraf, token: "{{{{ vault_token }}}}"}}
vault_token: {TOKEN}
syntraf_iperf3_version: "3.12"
"""


def make_inventory(root: Path, group_vars: str = GROUP_VARS) -> Path:
    write(root / "hosts.yml", HOSTS)
    write(root / "group_vars" / "all" / "main.yml", group_vars)
    return root


def compile_files(root: Path) -> dict[str, str]:
    plan = compile_inventory(str(root))
    limits, problems = group_thresholds(plan.model, LoadedInventory(str(root)).globals())
    assert problems == []
    return compile_pack(plan, limits).files


@pytest.fixture(scope="session")
def pack_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return compile_files(make_inventory(tmp_path_factory.mktemp("obs-inventory")))
