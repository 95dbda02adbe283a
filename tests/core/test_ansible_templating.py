"""Templating inventory values once per distinct inputs gives what Ansible gives templating each host anew."""

from __future__ import annotations

import textwrap

import pytest
from ansible.template import Templar

from syntraf_ctl.ansible_inventory import LoadedInventory, _vault_context
from syntraf_ctl.ansible_templating import _variables_read, plain

from .conftest import encrypt, mesh_hosts

KEYS = ("plain_value", "per_host", "through", "shared", "nested", "token", "literal", "pair", "header")
SITES = {"a": "mtl", "b": "mtl", "c": "tor", "d": "tor"}


def _vault(name: str, plaintext: str) -> str:
    return f"{name}: !vault |\n" + textwrap.indent(encrypt(plaintext), "  ") + "\n"


@pytest.fixture
def loaded(inventory, password_file):
    """Four hosts in two sites; values that read host variables directly, through other variables' templates,
    from vaulted values, or nothing at all; c and d override some of what the templates read."""
    inv = inventory(
        textwrap.dedent(
            """\
        plain_value: {x: 1, y: [a, "b}"], z: null, w: true}
        per_host: "{{ inventory_hostname }}-{{ site }}"
        through: "{{ chain }}"
        chain: "{{ site | upper }}"
        shared: "{{ base_url }}/write"
        base_url: http://db.example.net
        nested: {list: ["{{ site }}", 2, true, null], inner: {deep: "{{ through }}"}}
        token: "{{ vault_token }}"
        literal: !unsafe "{{ site }}"
        pair: ["{{ site }}", "{{ site }}"]
        header: "#jinja2:variable_start_string:'[%', variable_end_string:'%]'\\n[% site %]"
            """
        )
        + _vault("vault_token", "group-token"),
        base=False,
    ).hosts(mesh_hosts("voip", *SITES, **{name: f"site: {site}" for name, site in SITES.items()}))
    inv.host_vars("c", "base_url: http://other.example.net\n")
    inv.host_vars("d", _vault("vault_token", "host-token") + 'pair: [!unsafe "{{ site }}", "{{ site }}"]\n')
    return LoadedInventory(str(inv.root), vault_password_file=password_file)


def test_each_host_gets_what_ansible_templates_for_it(loaded):
    for name in SITES:
        raw = loaded._variables.get_vars(host=loaded._inventory.get_host(name))
        templar = Templar(loader=loaded._loader, variables=raw)
        with _vault_context(loaded._vault_secrets):
            expected = {key: plain(templar.template(raw[key])) for key in KEYS}
        assert loaded.host(name, KEYS).values == expected
    values = {name: loaded.host(name, KEYS).values for name in SITES}
    assert values["a"]["through"] == "MTL" and values["c"]["nested"]["inner"]["deep"] == "TOR"
    assert values["c"]["shared"] == "http://other.example.net/write" != values["d"]["shared"]
    assert values["c"]["token"] == "group-token" and values["d"]["token"] == "host-token"
    assert values["c"]["pair"] == ["tor", "tor"] and values["d"]["pair"] == ["{{ site }}", "tor"]
    assert values["a"]["literal"] == "{{ site }}" and values["d"]["header"] == "tor"


def test_a_result_handed_out_is_the_hosts_own(loaded):
    loaded.host("a", KEYS).values["nested"]["list"].append("changed")
    assert loaded.host("b", KEYS).values["nested"]["list"] == ["mtl", 2, True, None]


def test_a_template_whose_result_is_not_given_by_its_variables_is_rendered_for_each_host(inventory):
    inv = inventory("process: \"{{ lookup('pipe', 'echo $$') }}\"\n", base=False).hosts(
        mesh_hosts("voip", "a", "b", "c")
    )
    loaded = LoadedInventory(str(inv.root))
    shells = {loaded.host(name, ("process",)).values["process"] for name in ("a", "b", "c")}
    assert len(shells) == 3  # one shell per host: each host's value was rendered


def test_a_failing_template_is_a_problem_for_every_host(inventory):
    inv = inventory('broken: "{{ nowhere }}"\n', base=False).hosts(mesh_hosts("voip", "a", "b"))
    loaded = LoadedInventory(str(inv.root))
    for name in ("a", "b"):
        assert loaded.host(name, ("broken",)).failed == {"broken"}
    assert [p.subject for p in loaded.problems] == ["host a", "host b"]
    assert all(p.source.endswith("group_vars/all.yml:1") for p in loaded.problems)


@pytest.mark.parametrize(
    ("text", "reads"),
    [
        ("{{ a.b }}-{{ c[d] }}", {"a", "c", "d"}),
        # x too: a template's own names only make its inputs stricter
        ("{% for x in items %}{{ x }}{{ y | default(z) }}{% endfor %}", {"items", "x", "y", "z"}),
        ("{{ a | ansible.builtin.to_json }}", {"a"}),
        ("{{ lookup('env', 'HOME') }}", None),
        ("{{ 100 | random }}", None),
        ("{{ a | community.general.json_query('x') }}", None),
        ("{% include 'x.j2' %}", None),
        ("{{ unclosed", None),
    ],
)
def test_what_a_template_reads(text, reads):
    assert _variables_read(text) == (None if reads is None else frozenset(reads))
