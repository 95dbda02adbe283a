"""Topologies through the real pipeline: inventory keys, the edges each shape keeps, the probe configs'
schedule, ports kept by the lock when a host is added, and bad values refused with nothing written."""

from __future__ import annotations

import json

from syntraf_probe.config import load_config

from syntraf_ctl.lockfile import write_lock
from syntraf_ctl.render import render_plan

from .conftest import refused
from .test_validation import has

# Two sites (inventory groups mtl and tor) of a mesh group wan: h1..h3 in mtl, h4..h5 in tor.
SITES_HOSTS = """\
all:
  children:
    wan:
      children:
        mtl:
          hosts: {h1: {ansible_host: 192.0.2.1}, h2: {ansible_host: 192.0.2.2}, h3: {ansible_host: 192.0.2.3}}
        tor: {hosts: {h4: {ansible_host: 192.0.2.4}, h5: {ansible_host: 192.0.2.5}}}
"""


MTL = ("h1", "h2", "h3")


def group(topology: str, extra: str = "") -> str:
    return f"syntraf_mesh_groups:\n  wan: {{topology: {topology}{extra}}}\n"


def pairs(plan) -> set[tuple[str, str]]:
    return {(e.src, e.dst) for e in plan.edges}


def both_ways(*pairs_: tuple[str, str]) -> set[tuple[str, str]]:
    return {p for a, b in pairs_ for p in ((a, b), (b, a))}


def test_hub_and_spoke_measures_every_pair_with_a_hub_and_no_two_spokes(inventory):
    plan = inventory(group("{kind: hub_and_spoke, hubs: mtl:&h1}")).hosts(SITES_HOSTS).compile()
    assert pairs(plan) == both_ways(("h1", "h2"), ("h1", "h3"), ("h1", "h4"), ("h1", "h5"))
    assert plan.to_json()["groups"]["wan"]["topology"] == {"kind": "hub_and_spoke", "hubs": ["h1"]}


def test_sites_are_full_meshes_joined_by_representative_pairs(inventory):
    plan = inventory(group("{kind: sites, sites: [mtl, tor], pairs: 2}")).hosts(SITES_HOSTS).compile()
    inside = both_ways(("h1", "h2"), ("h1", "h3"), ("h2", "h3"), ("h4", "h5"))
    between = pairs(plan) - inside
    assert inside <= pairs(plan)
    assert len(between) == 4  # two pairs, both ways
    assert all((a in MTL) != (b in MTL) for a, b in between)


def site_variables(sites: dict[str, str], extra: str = "") -> str:
    """SITES_HOSTS with each host's `syntraf_site` (host -> site name); an empty name leaves it unset."""
    hosts = SITES_HOSTS
    for host, site in sites.items():
        address = f"192.0.2.{host[1:]}}}"
        hosts = hosts.replace(address, address[:-1] + (f", syntraf_site: {site}}}" if site else "}"))
    return hosts + extra


BY_VARIABLE = "{kind: sites, site_variable: syntraf_site, pairs: 2}"
SITE_OF = {"h1": "mtl", "h2": "mtl", "h3": "mtl", "h4": "tor", "h5": "tor"}


def test_sites_from_a_host_variable_are_the_sites_of_the_same_inventory_groups(inventory):
    by_groups = inventory(group("{kind: sites, sites: [mtl, tor], pairs: 2}")).hosts(SITES_HOSTS).compile()
    by_variable = inventory(group(BY_VARIABLE)).hosts(site_variables(SITE_OF)).compile()
    assert pairs(by_variable) == pairs(by_groups)
    topology = by_variable.to_json()["groups"]["wan"]["topology"]
    assert topology["sites"] == {"mtl": list(MTL), "tor": ["h4", "h5"]}


def test_a_host_variable_can_split_an_inventory_group_into_sites(inventory):
    plan = inventory(group(BY_VARIABLE)).hosts(site_variables({**SITE_OF, "h3": "van"})).compile()
    inside = both_ways(("h1", "h2"), ("h4", "h5"))
    between = pairs(plan) - inside
    assert inside <= pairs(plan)
    sites_of = {**SITE_OF, "h3": "van"}
    assert all(sites_of[a] != sites_of[b] for a, b in between)
    assert len(between) == 2 * (2 + 2 + 2)  # 2 pairs, both ways, between each two of mtl, tor and van


def test_a_member_without_its_site_variable_is_refused_naming_the_host_and_the_variable(inventory):
    problems = inventory(group(BY_VARIABLE)).hosts(site_variables({**SITE_OF, "h2": ""})).problems()
    has(problems, "host h2", "syntraf_site", "is not set", "syntraf_mesh_groups.wan.topology")
    assert len(problems) == 1, problems


def test_a_site_variable_that_is_not_a_name_is_refused_at_the_host_file(inventory):
    inv = inventory(group(BY_VARIABLE)).hosts(site_variables(SITE_OF))
    inv.host_vars("h4", "syntraf_site: 3\n")
    found = has(inv.problems(), "host h4", "syntraf_site", "is 3")
    assert "host_vars/h4.yml:1" in found


def test_the_site_variable_must_give_two_sites(inventory):
    hosts = site_variables(dict.fromkeys(SITE_OF, "mtl"))
    found = has(inventory(group(BY_VARIABLE)).hosts(hosts).problems(), "topology.site_variable", "2 or more")
    assert "mesh group wan" in found and "group_vars/all.yml" in found


def test_the_site_variable_is_an_unknown_syntraf_variable_unless_a_group_reads_it(inventory):
    inventory(group(BY_VARIABLE)).hosts(site_variables(SITE_OF)).compile()  # valid: wan reads it
    problems = inventory(group("full")).hosts(site_variables(SITE_OF)).problems()
    assert problems and all("syntraf_site: unknown syntraf variable" in p for p in problems), problems


def test_rotating_keeps_every_edge_and_gives_each_probe_the_schedule(inventory):
    plan = inventory(group("{kind: rotating, peers: 2, epoch: 60}")).hosts(SITES_HOSTS).compile()
    assert len(plan.edges) == 20
    tree = render_plan(plan)
    config = json.loads(tree.files["h1/etc/syntraf/wan.json"])
    assert config["schedule"] == {
        "epoch_seconds": 60,
        "origin": 0,
        "peers": 2,
        "members": ["h1", "h2", "h3", "h4", "h5"],
    }
    assert config["peer_table"]["ports_out"][0] is None  # h1 itself
    assert all(config["peer_table"]["ports_out"][1:]) and all(config["peer_table"]["ports_in"][1:])


def test_full_mesh_configs_have_no_schedule(inventory):
    plan = inventory(group("full")).hosts(SITES_HOSTS).compile()
    assert "schedule" not in json.loads(render_plan(plan).files["h1/etc/syntraf/wan.json"])
    assert len(plan.edges) == 20


def test_rendered_rotating_config_loads_in_the_probe(inventory, tmp_path):
    plan = inventory(group("{kind: rotating, peers: 9}")).hosts(SITES_HOSTS).compile()
    path = tmp_path / "wan.json"
    path.write_text(render_plan(plan).files["h4/etc/syntraf/wan.json"])
    schedule = load_config(str(path)).schedule
    assert schedule.peers == 4 and schedule.epoch_seconds == 300  # k capped at N-1, the default epoch
    assert any("peers 9" in w for w in plan.warnings)


def test_a_rotating_group_of_one_host_renders_a_config_the_probe_loads(inventory, tmp_path):
    """One member has no peer to rotate through: a schedule of k = 1 over one member is one the probe
    refuses (k at most N-1), so the lone member gets a config without a schedule and without edges."""
    lone = "all:\n  children:\n    wan: {hosts: {h1: {ansible_host: 192.0.2.1}}}\n"
    plan = inventory(group("{kind: rotating, peers: 2}")).hosts(lone).compile()
    path = tmp_path / "wan.json"
    path.write_text(render_plan(plan).files["h1/etc/syntraf/wan.json"])
    config = load_config(str(path))
    assert config.schedule is None and config.edges == ()


def test_adding_a_host_keeps_the_ports_of_every_edge_that_stays(inventory):
    for shape in ("{kind: sites, sites: [mtl, tor]}", "{kind: rotating, peers: 2}", "{kind: hub_and_spoke, "
                  "hubs: h1}"):  # fmt: skip
        inv = inventory(group(shape)).hosts(SITES_HOSTS)
        before = inv.compile()
        write_lock(before.lock_path, before.lock_state())
        inv.hosts(SITES_HOSTS.replace("h5: {ansible_host: 192.0.2.5}", "h5: {ansible_host: 192.0.2.5}, "
                                      "h6: {ansible_host: 192.0.2.6}"))  # fmt: skip
        after = {e.key: e.port for e in inv.compile().edges}
        kept = {e.key: e.port for e in before.edges if e.key in after}
        assert kept and all(after[key] == port for key, port in kept.items()), shape


def test_exclude_and_nat_still_apply_inside_a_shape(inventory):
    hosts = SITES_HOSTS.replace("192.0.2.2}", "192.0.2.2, syntraf_exclude: {wan: [h3]}}")
    hosts = hosts.replace("192.0.2.4}", "192.0.2.4, syntraf_behind_nat: true}")
    plan = inventory(group("{kind: hub_and_spoke, hubs: [h1, h2]}")).hosts(hosts).compile()
    assert ("h2", "h3") not in pairs(plan) and ("h1", "h3") in pairs(plan)
    nat = next(e for e in plan.edges if e.src == "h4")
    assert nat.mode == "forward" and nat.listener == nat.dst


BAD = [
    ("bogus", "topology.kind", "expected one of full, hub_and_spoke, sites, rotating"),
    ("{kind: hub_and_spoke}", "topology.hubs", "required"),
    ("{kind: hub_and_spoke, hubs: nosuch}", "topology.hubs", "matches no member"),
    ("{kind: sites, sites: [mtl]}", "topology.sites", "2 or more"),
    ("{kind: sites, sites: [mtl, wan]}", "topology.sites", "host h1 is in sites mtl, wan"),
    ("{kind: sites, sites: [mtl, tor], pairs: 0}", "topology.pairs", "1-100"),
    ("{kind: sites}", "topology.sites", "got neither"),
    ("{kind: sites, sites: [mtl, tor], site_variable: s}", "topology.sites", "got both"),
    ("{kind: sites, site_variable: 'a b'}", "topology.site_variable", "expected the name of a host variable"),
    ("{kind: rotating}", "topology.peers", "required"),
    ("{kind: rotating, peers: 2, epoch: 5}", "topology.epoch", "10-86400"),
    ("{kind: rotating, peers: 2, epoch: 20}", "topology.epoch", "three intervals"),
    ("{kind: rotating, peers: 2, hubs: h1}", "topology.hubs", "not a setting of topology rotating"),
    ("[1]", "topology", "expected a kind"),
]


def test_bad_topologies_are_reported_with_file_group_and_key(inventory):
    for value, key, message in BAD:
        problems = inventory(group(value, ", interval: 10")).hosts(SITES_HOSTS).problems()
        found = has(problems, f"syntraf_mesh_groups.wan.{key}", message)
        assert "group_vars/all.yml" in found and "mesh group wan" in found, found


def test_a_bad_topology_writes_nothing(inventory, tmp_path, capsys):
    inv = inventory(group("{kind: rotating, peers: 0}")).hosts(SITES_HOSTS)
    err = refused(["render", "-i", str(inv.root), "-o", str(tmp_path / "out")], tmp_path, capsys)
    assert "syntraf_mesh_groups.wan.topology.peers" in err
