"""A rotating group's compact forms say exactly what the plan says: for generated rotating groups with hosts
behind NAT, include/exclude lists, connect-address overrides and mixed 3.12/3.17+ iperf3 versions (PKCS#1
edges and edges the auth rule leaves out), every host's rendered config, read and expanded by the probe's own
loader, holds exactly the plan's edges of that host, every field of them; and DIR/plan.json's port rows and
connect addresses give back exactly the plan's edges. Real inventories loaded by Ansible; budget:
SYNTRAF_PROPERTY_EXAMPLES (default 100) examples."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from syntraf_probe.config import parse_config

from syntraf_ctl.compile import compile_inventory
from syntraf_ctl.probe_configs import probe_edge
from syntraf_ctl.render import render_plan

BUDGET = settings(
    max_examples=int(os.environ.get("SYNTRAF_PROPERTY_EXAMPLES", "100")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
VERSIONS = ("3.12", "3.17", "3.20")
ALL_VARS = """\
syntraf_mesh_groups: {ring: {topology: {kind: rotating, peers: %d, epoch: 60}}}
syntraf_influxdb: [{url: "http://db.example.net:8086", org: noc, bucket: syntraf, token: tok}]
"""


@st.composite
def rotating_inventories(draw: st.DrawFn) -> tuple[int, list[str]]:
    """(k, one inline YAML mapping of host variables per host h0, h1, ...)."""
    count = draw(st.integers(3, 7))
    names = [f"h{i}" for i in range(count)]
    hosts = []
    for index, name in enumerate(names):
        others = [other for other in names if other != name]
        settings_ = [
            f"ansible_host: 192.0.2.{index + 1}",
            f"syntraf_iperf3_version: '{draw(st.sampled_from(VERSIONS))}'",
        ]
        if draw(st.integers(0, 3)) == 0:
            settings_.append("syntraf_behind_nat: true")
        if draw(st.integers(0, 3)) == 0:
            settings_.append(f"syntraf_exclude: {{ring: [{draw(st.sampled_from(others))}]}}")
        elif draw(st.integers(0, 7)) == 0:
            chosen = draw(st.lists(st.sampled_from(others), min_size=1, max_size=2, unique=True))
            settings_.append(f"syntraf_include_only: {{ring: [{', '.join(chosen)}]}}")
        if draw(st.integers(0, 2)) == 0:
            peer = draw(st.sampled_from(others))
            settings_.append(f"syntraf_override_dst: {{{peer}: 198.51.100.{index + 1}}}")
        hosts.append("{" + ", ".join(settings_) + "}")
    return draw(st.integers(1, count - 1)), hosts


@BUDGET
@given(rotating_inventories())
def test_every_hosts_expanded_config_and_the_plan_json_hold_exactly_the_plans_edges(case) -> None:
    peers, hosts = case
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        lines = ["all:", "  children:", "    ring:", "      hosts:"]
        lines += [f"        h{i}: {settings_}" for i, settings_ in enumerate(hosts)]
        (root / "hosts.yml").write_text("\n".join(lines) + "\n")
        (root / "group_vars").mkdir()
        (root / "group_vars" / "all.yml").write_text(ALL_VARS % peers)
        plan = compile_inventory(str(root))
    tree = render_plan(plan)
    for uid in plan.model.groups["ring"].members:
        host = plan.model.hosts[uid]
        config = parse_config(tree.files[f"{host.name}/etc/syntraf/ring.json"], "ring.json")
        planned = [probe_edge(e, plan.model.hosts) for e in plan.edges if uid in (e.src, e.dst)]
        assert config.group_table is not None and not config.listed_edges
        assert sorted(config.edges, key=lambda e: e.name) == sorted(planned, key=lambda e: e.name)
    group = json.loads(tree.files["plan.json"])["groups"]["ring"]
    members, nat = group["members"], {uid for uid in group["members"] if plan.model.hosts[uid].behind_nat}
    described = {
        (src, dst, port, dst if src in nat else src, "forward" if src in nat else "reverse")
        for src, row in zip(members, group["ports"])
        for dst, port in zip(members, row)
        if port is not None
    }
    assert described == {(e.src, e.dst, e.port, e.listener, e.mode) for e in plan.edges}
    redirected = {
        (e.src, e.dst, e.connect_address)
        for e in plan.edges
        if e.connect_address != plan.model.hosts[e.listener].address
    }
    assert {tuple(row) for row in group["connect_addresses"]} == redirected
