"""Done means: `syntraf-ctl plan` on the imported inventory has the edges the original would have measured."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from import_toml import oracle
from import_toml.conftest import FIXTURES, VALID_CONFIGS, syntraf_ctl

_PLACEHOLDER = re.compile(r"ansible_host:\s+# TODO.*")


def fill_dynamic_addresses(inventory: Path) -> int:
    """Do what the summary asks: give each dynamic host (IP_ADDRESS 0.0.0.0) a real address."""
    hosts = inventory / "hosts.yml"
    text, count = hosts.read_text(), 0
    while _PLACEHOLDER.search(text):
        count += 1
        text = _PLACEHOLDER.sub(f"ansible_host: 198.51.100.{200 + count}", text, count=1)
    hosts.write_text(text)
    return count


def plan(inventory: Path) -> dict:
    result = syntraf_ctl("plan", "--format", "json", "-i", str(inventory))
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def planned_edges(planned: dict) -> set[oracle.Edge]:
    fields = ("group", "src", "dst", "bandwidth_bps", "packet_size", "dscp", "interval")
    return {oracle.Edge(*(edge[field] for field in fields)) for edge in planned["edges"]}


@pytest.mark.parametrize("name", VALID_CONFIGS)
def test_plan_has_the_edges_the_original_measured(imported, name: str) -> None:
    inventory, _ = imported(name)
    fill_dynamic_addresses(inventory)
    text = (FIXTURES / name).read_text()
    expected = oracle.measured_edges(text)
    assert expected, "the fixture must measure something"
    planned = plan(inventory)
    assert planned_edges(planned) == expected
    assert {name: group["disabled"] for name, group in planned["groups"].items()} == oracle.groups(text)


def test_override_is_the_address_the_host_uses_to_reach_its_peer(imported) -> None:
    inventory, _ = imported("multigroup.toml")
    fill_dynamic_addresses(inventory)
    edges = plan(inventory)["edges"]
    from_tor = [e for e in edges if e["initiator"] == "TOR-SRV2" and e["listener"] == "QC-SRV3"]
    assert from_tor, "TOR-SRV2 reaches QC-SRV3 in some group"
    assert {e["connect_address"] for e in from_tor} == {"203.0.113.30"}
    others = [e for e in edges if e["initiator"] != "TOR-SRV2" and e["listener"] == "QC-SRV3"]
    assert {e["connect_address"] for e in others} == {"192.0.2.13"}


def test_dynamic_host_is_refused_until_its_address_is_set(imported) -> None:
    inventory, _ = imported("multigroup.toml")
    result = syntraf_ctl("plan", "--format", "json", "-i", str(inventory))
    assert result.returncode != 0
    assert "HOME-NAT4" in result.stderr + result.stdout
    assert "ansible_host" in result.stderr + result.stdout
    assert fill_dynamic_addresses(inventory) == 1
    assert plan(inventory)["edges"]


def test_oracle_follows_the_reference_rules() -> None:
    """The oracle itself, on the include-only fixture, against pairs worked out by hand from §5.2."""
    edges = oracle.measured_edges((FIXTURES / "include_only.toml").read_text())
    pairs = {(e.group, e.src, e.dst) for e in edges}
    # CORE: node-a includes only node-b; node-d's exclusion of node-c is void (node-c has include-only).
    assert {(s, d) for g, s, d in pairs if g == "CORE"} == {
        ("node-a", "node-b"),
        ("node-b", "node-a"),
        ("node-b", "node-c"),
        ("node-c", "node-b"),
        ("node-b", "node-d"),
        ("node-d", "node-b"),
        ("node-c", "node-d"),
        ("node-d", "node-c"),
    }
    # EDGE: node-c includes nobody who is a member, so it measures nothing; node-b excludes node-d.
    assert {(s, d) for g, s, d in pairs if g == "EDGE"} == {
        ("node-a", "node-b"),
        ("node-b", "node-a"),
        ("node-a", "node-d"),
        ("node-d", "node-a"),
    }
    core = next(e for e in edges if e.group == "CORE")
    assert (core.bandwidth_bps, core.packet_size, core.interval) == (200_000, 1000, 2.0)
    edge = next(e for e in edges if e.group == "EDGE")
    assert (edge.bandwidth_bps, edge.packet_size, edge.dscp) == (64 * 10 * 8, 64, 0)
