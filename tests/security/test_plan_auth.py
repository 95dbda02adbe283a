"""The auth rule inside `plan`: recorded and overriding iperf3 versions, PKCS#1 edges, left-out edges."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from syntraf_ctl.cli import main
from syntraf_ctl.compile import compile_inventory
from syntraf_ctl.problems import ValidationError

HOSTS = """\
all:
  vars:
    syntraf_mesh_groups: {lab: {}}
  children:
    lab:
      hosts:
        old: {ansible_host: 192.0.2.1}
        deb13: {ansible_host: 192.0.2.2}
        new: {ansible_host: 192.0.2.3, syntraf_iperf3_version: "3.21"}
"""


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    (tmp_path / "hosts.yml").write_text(HOSTS)
    lock = {"schema": 1, "ports": {}, "iperf3_versions": {"old": "3.12", "deb13": "3.18", "new": "3.12"}}
    (tmp_path / ".syntraf.lock.json").write_text(json.dumps(lock))  # what an earlier apply saw
    return tmp_path


def test_mixed_pairs_get_pkcs1_and_impossible_edges_are_left_out_with_the_reason(inventory):
    plan = compile_inventory(str(inventory))
    by_key = {(e.src, e.dst): e for e in plan.edges}
    # new's override (3.21) wins over its recorded 3.12: new -> old (reverse: old initiates to new) pads
    assert by_key[("new", "old")].pkcs1_padding
    assert ("old", "new") not in by_key  # a 3.21 initiator cannot reach a 3.12 listener
    assert by_key[("old", "deb13")].pkcs1_padding and by_key[("deb13", "old")].pkcs1_padding
    assert not by_key[("new", "deb13")].pkcs1_padding and not by_key[("deb13", "new")].pkcs1_padding
    assert len(plan.edges) == 5
    [warning] = [w for w in plan.warnings if "left out" in w]
    assert warning.startswith("mesh group lab: edge old -> new left out: new cannot authenticate to old's")


def test_plan_command_prints_the_left_out_pair_and_render_marks_the_edges(inventory, tmp_path, capsys):
    assert main(["plan", "-i", str(inventory)]) == 0
    assert "edge old -> new left out" in capsys.readouterr().out
    out = tmp_path.parent / f"{tmp_path.name}-out"
    assert main(["render", "-i", str(inventory), "-o", str(out)]) == 0
    config = json.loads((out / "old/etc/syntraf/lab.json").read_text())
    flags = {(e["src"], e["dst"]): e["pkcs1_padding"] for e in config["edges"]}
    assert flags == {("old", "deb13"): True, ("deb13", "old"): True, ("new", "old"): True}
    assert config["auth"]["time_skew_threshold"] == 10


def test_auth_must_agree_on_both_ends_and_a_bad_version_is_a_problem(tmp_path):
    (tmp_path / "hosts.yml").write_text(
        HOSTS.replace('syntraf_iperf3_version: "3.21"', "syntraf_iperf3_auth: false").replace(
            "deb13: {ansible_host: 192.0.2.2}",
            "deb13: {ansible_host: 192.0.2.2, syntraf_iperf3_version: three}",
        )
    )
    with pytest.raises(ValidationError) as caught:
        compile_inventory(str(tmp_path))
    messages = [str(p) for p in caught.value.problems]
    assert any(
        "host deb13: syntraf_iperf3_version: expected a version like 3.12, got 'three'" in m for m in messages
    )
    (tmp_path / "hosts.yml").write_text(
        HOSTS.replace('syntraf_iperf3_version: "3.21"', "syntraf_iperf3_auth: false")
    )
    with pytest.raises(ValidationError) as caught:
        compile_inventory(str(tmp_path))
    messages = [str(p) for p in caught.value.problems]
    assert any(
        "host new: syntraf_iperf3_auth: new has it off but initiates tests to old" in m for m in messages
    )


def test_versions_unknown_are_read_from_the_hosts_once_and_unreachable_ones_stay_unknown(tmp_path):
    (tmp_path / "hosts.yml").write_text(
        textwrap.dedent(HOSTS).replace(', syntraf_iperf3_version: "3.21"', "")
    )
    asked = []

    def read(hosts):  # what apply's preflight run returns: `iperf3 --version` per reachable host
        asked.append(sorted(host.name for host in hosts))
        return {"old": "iperf 3.12 (cJSON 1.7.15)", "deb13": "iperf 3.18 (cJSON 1.7.15)"}

    plan = compile_inventory(str(tmp_path), read_versions=read)
    assert asked == [["deb13", "new", "old"]]
    assert plan.iperf3_versions == {"old": "3.12", "deb13": "3.18"}
    assert plan.lock_state().versions == {"deb13": "3.18", "old": "3.12"}
    assert any(e.pkcs1_padding for e in plan.edges)  # old (3.12) and deb13 (3.18) pad
    assert any(w.startswith("iperf3 version unknown for new") for w in plan.warnings)
    assert not plan.versions_known()
    plain = compile_inventory(str(tmp_path))  # plan and render never contact a host
    assert len(plain.edges) == 6 and not any(e.pkcs1_padding for e in plain.edges)
    assert any(w.startswith("iperf3 version unknown for deb13, new, old") for w in plain.warnings)
