"""Intent before destruction: plan/apply show what changes against the lock file, and a change that tears
the mesh down needs --allow-destroy (the review's TY1 and H1, and the rule in docs/refused.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from syntraf_ctl.cli import main
from syntraf_ctl.lockfile import LOCK_NAME

from .conftest import REVIEW_GROUP_VARS, REVIEW_HOSTS, refused, review_inventory

GROUP_VARS = Path("inv/group_vars/all/main.yml")


@pytest.fixture
def rendered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Path:
    """The review's base inventory at inv/, rendered once to out/ (lock file and key store written)."""
    monkeypatch.chdir(tmp_path)
    review_inventory(tmp_path / "inv")
    assert main(["render", "-i", "inv", "-o", "out"]) == 0
    capsys.readouterr()
    return tmp_path


def test_ty1_a_members_typo_is_an_error_and_keeps_the_lock_the_keys_and_the_render(rendered, capsys):
    GROUP_VARS.write_text(REVIEW_GROUP_VARS.replace("voip: {", "voip: {members: vio, "))
    error = refused(["render", "-i", "inv", "-o", "out"], rendered, capsys)
    assert "mesh group voip: syntraf_mesh_groups.voip.members: 'vio' matches no inventory host" in error
    assert main(["plan", "-i", "inv"]) == 2


def test_ty1_an_inventory_group_without_hosts_is_an_error(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    review_inventory(tmp_path / "inv", hosts="all: {hosts: {a1: {}}, children: {voip: {}}}\n")
    assert main(["plan", "-i", "inv"]) == 2
    assert "syntraf_mesh_groups.voip: 'voip' matches no inventory host" in capsys.readouterr().err


def test_h1_a_host_named_like_a_group_is_an_error(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    review_inventory(tmp_path / "inv", hosts=REVIEW_HOSTS.replace("a3:", "voip:"))
    assert main(["plan", "-i", "inv"]) == 2
    assert "host voip: the inventory hostname is also the name of a group" in capsys.readouterr().err


def test_removing_more_than_half_of_the_locked_edges_needs_allow_destroy(rendered, capsys):
    (rendered / "inv/hosts.yml").write_text(REVIEW_HOSTS.replace(", a3: {ansible_host: 127.0.0.3}", ""))
    for command in (
        ["render", "-i", "inv", "-o", "out"],
        ["apply", "-i", "inv"],
        ["apply", "-i", "inv", "--check"],
    ):
        error = refused(command, rendered, capsys)
        assert "it removes 4 of the 6 locked edges (more than half)" in error
        assert "pass --allow-destroy if this is intended" in error
    store = (rendered / "inv/.syntraf-secrets/iperf3-auth.yml").read_text()
    assert main(["render", "-i", "inv", "-o", "out", "--allow-destroy"]) == 0
    assert "a3" not in json.loads((rendered / "inv" / LOCK_NAME).read_text())["hosts"]
    assert "a3:" in store and "a3:" not in (rendered / "inv/.syntraf-secrets/iperf3-auth.yml").read_text()


def test_removing_every_edge_of_a_group_needs_allow_destroy(rendered, capsys):
    GROUP_VARS.write_text(REVIEW_GROUP_VARS.replace("}}\n", "}, lab: {members: voip}}\n", 1))
    assert main(["render", "-i", "inv", "-o", "out"]) == 0  # adds 6 edges
    GROUP_VARS.write_text(REVIEW_GROUP_VARS)
    error = refused(["render", "-i", "inv", "-o", "out"], rendered, capsys)
    assert "it removes every edge of mesh group lab (6 locked edges)" in error
    assert "more than half" not in error  # 6 of 12: the group rule alone refuses it


def test_plan_shows_added_removed_and_changed_edges_and_hosts(rendered, capsys):
    hosts = REVIEW_HOSTS.replace("a3: {ansible_host: 127.0.0.3}", "a4: {ansible_host: 127.0.0.4}")
    (rendered / "inv/hosts.yml").write_text(hosts.replace("127.0.0.2", "127.0.0.22"))
    GROUP_VARS.write_text(REVIEW_GROUP_VARS.replace("dscp: ef", "dscp: af41"))
    assert main(["plan", "-i", "inv", "--format", "json"]) == 0
    changes = json.loads(capsys.readouterr().out)["changes"]
    assert changes["locked"] is True and changes["locked_edges"] == 6
    assert changes["edges"]["added"] == ["voip/a1/a4", "voip/a2/a4", "voip/a4/a1", "voip/a4/a2"]
    assert changes["edges"]["removed"] == ["voip/a1/a3", "voip/a2/a3", "voip/a3/a1", "voip/a3/a2"]
    assert changes["edges"]["changed"] == {
        "voip/a1/a2": {"dscp": [46, 34]},
        "voip/a2/a1": {"dscp": [46, 34]},
    }
    assert changes["hosts"] == {
        "added": ["a4"],
        "removed": ["a3"],
        "changed": {"a2": {"address": ["127.0.0.2", "127.0.0.22"]}},
    }
    assert changes["destruction"] == ["removes 4 of the 6 locked edges (more than half)"]
    assert main(["plan", "-i", "inv"]) == 0
    text = capsys.readouterr().out
    for line in [
        "changes against the lock file: 4 edges added, 4 removed, 2 changed (of 6 locked); "
        "1 hosts added, 1 removed",
        "  + edges voip/a1/a4, voip/a2/a4, voip/a4/a1, voip/a4/a2",
        "  ~ edges voip/a1/a2 (dscp 46 -> 34), voip/a2/a1 (dscp 46 -> 34)",
        "  - hosts a3",
        "  ~ hosts a2 (address 127.0.0.2 -> 127.0.0.22)",
        "  ! removes 4 of the 6 locked edges (more than half): needs --allow-destroy",
    ]:
        assert line in text.splitlines(), line


def test_a_moved_listener_is_a_changed_port(rendered, capsys):
    (rendered / "inv/hosts.yml").write_text(
        REVIEW_HOSTS.replace("127.0.0.1}", "127.0.0.1, syntraf_behind_nat: true}")
    )
    assert main(["plan", "-i", "inv", "--format", "json"]) == 0
    changed = json.loads(capsys.readouterr().out)["changes"]["edges"]["changed"]
    assert changed["voip/a1/a2"] == {"listener": ["a1", "a2"], "port": [15000, 15002]}


def test_without_a_lock_file_every_edge_is_new_and_nothing_is_destroyed(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    review_inventory(tmp_path / "inv")
    assert main(["plan", "-i", "inv", "--format", "json"]) == 0
    changes = json.loads(capsys.readouterr().out)["changes"]
    assert changes["locked"] is False and changes["destruction"] == []


def test_long_lists_of_names_are_summarised(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    names = [f"h{index:02}" for index in range(12)]
    members = ", ".join(f"{name}: {{ansible_host: 192.0.2.{index + 1}}}" for index, name in enumerate(names))
    idle = ", ".join(f"i{index:02}: {{}}" for index in range(12))
    group_vars = REVIEW_GROUP_VARS.replace('syntraf_iperf3_version: "3.12"\n', "")
    review_inventory(
        tmp_path / "inv",
        f"all: {{hosts: {{{idle}}}, children: {{voip: {{hosts: {{{members}}}}}}}}}\n",
        group_vars,
    )
    assert main(["plan", "-i", "inv"]) == 0
    text = capsys.readouterr().out
    assert (
        "iperf3 version unknown for h00, h01, h02, h03, h04 and 7 more (12 in all): `syntraf-ctl apply` reads"
        in text
    )
    assert "hosts in no mesh group: i00, i01, i02, i03, i04 and 7 more (12 in all)" in text
    assert main(["render", "-i", "inv", "-o", "out"]) == 0
    assert "new iperf3 authentication material for h00, h01, h02, h03, h04 and 7 more (12 in all)" in (
        capsys.readouterr().err
    )


def test_deleting_most_key_material_needs_allow_destroy(rendered, capsys):
    """Turning authentication off removes no edge but would delete every private key of the store."""
    GROUP_VARS.write_text(REVIEW_GROUP_VARS + "syntraf_iperf3_auth: false\n")
    error = refused(["render", "-i", "inv", "-o", "out"], rendered, capsys)
    assert (
        "it deletes the iperf3 key material of a1, a2, a3 (3 of the 3 hosts "
        "inv/.syntraf-secrets/iperf3-auth.yml holds, more than half)" in error
    )
    assert main(["render", "-i", "inv", "-o", "out", "--allow-destroy"]) == 0
    assert "PRIVATE KEY" not in (rendered / "inv/.syntraf-secrets/iperf3-auth.yml").read_text()
