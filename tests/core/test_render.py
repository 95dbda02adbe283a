"""Rendering: golden files, byte-identical output, the probe config contract, and the plan/render commands."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from syntraf_probe.config_json import config_revision, config_text

from syntraf_ctl.cli import main
from syntraf_ctl.compile import compile_inventory
from syntraf_ctl.lockfile import LOCK_NAME
from syntraf_ctl.probe_configs import probe_configs
from syntraf_ctl.render import PROBE_FILE, RenderedTree, render_plan, write_tree

from .conftest import mesh_hosts

GOLDEN = Path(__file__).parent / "golden"
SECRETS = ("golden-token-never-rendered", "another-token-never-rendered")
CONFIG_KEYS = [
    "schema", "revision", "host", "group", "address", "iperf3", "auth", "edges", "databases", "spool",
    "state_path", "log_level",
]  # fmt: skip
EDGE_KEYS = [
    "group", "src", "dst", "listener", "initiator", "mode", "port", "connect_address", "bandwidth_bps",
    "packet_size", "packets_per_second", "dscp", "interval",
]  # fmt: skip


@pytest.fixture
def golden_render(tmp_path):
    """The golden inventory copied to a temporary directory (so the lock file lands there), rendered."""
    inventory = tmp_path / "inventory"
    shutil.copytree(GOLDEN / "inventory", inventory)
    out = tmp_path / "out"
    assert main(["render", "-i", str(inventory), "-o", str(out)]) == 0
    return inventory, out


def files_under(root: Path) -> dict[str, bytes]:
    """Every rendered file but the probe zipapp (its bytes follow the probe's sources, not the plan)."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != PROBE_FILE
    }


def test_render_matches_golden_files(golden_render):
    _, out = golden_render
    expected_dir = GOLDEN / "expected"
    if os.environ.get("SYNTRAF_UPDATE_GOLDEN"):
        shutil.rmtree(expected_dir, ignore_errors=True)
        shutil.copytree(out, expected_dir, ignore=shutil.ignore_patterns(PROBE_FILE))
    rendered, expected = files_under(out), files_under(expected_dir)
    assert sorted(rendered) == sorted(expected)
    for path, content in expected.items():
        assert rendered[path] == content, (
            f"{path} differs from the golden file (see tests/core/golden/README.md)"
        )


def test_host_in_no_group_gets_an_empty_config_directory_and_a_document_with_no_group(golden_render):
    _, out = golden_render
    assert (out / "idle-1/etc/syntraf").is_dir()
    assert [path.name for path in (out / "idle-1").rglob("*.*")] == ["host.json"]
    assert json.loads((out / "idle-1/host.json").read_text())["groups"] == []


def test_render_carries_the_probe_zipapp_and_each_host_document_names_every_rendered_file(golden_render):
    _, out = golden_render
    assert (out / PROBE_FILE).read_bytes().startswith(b"#!/usr/bin/python3\n")
    for host in ("mtl-1", "qc-3", "tor-1", "van-1"):
        document = json.loads((out / host / "host.json").read_text())
        rendered = {str(p.relative_to(out / host)) for p in (out / host / "etc").rglob("*") if p.is_file()}
        named = [*document["files"], document["account"]]
        assert {entry["source"] for entry in named} == rendered
        for entry in named:
            assert entry["target"]["path"] == "/" + entry["source"]
        assert (out / host / document["probe"]["source"]).resolve() == (out / PROBE_FILE).resolve()


def test_render_is_byte_identical_and_writes_no_secret(golden_render, tmp_path):
    inventory, out = golden_render
    again = tmp_path / "again"
    assert main(["render", "-i", str(inventory), "-o", str(again)]) == 0
    assert files_under(out) == files_under(again)
    for content in files_under(out).values():
        assert not any(secret.encode() in content for secret in SECRETS)


def test_probe_config_follows_schema_2(golden_render):
    _, out = golden_render
    plan = json.loads((out / "plan.json").read_text())
    for path in out.glob("*/etc/syntraf/*.json"):
        config = json.loads(path.read_text())
        assert list(config) == CONFIG_KEYS
        assert config["schema"] == 2
        assert config["auth"]["username"] == config["host"]  # iperf3 authentication is on by default
        assert config["auth"]["public_keys_dir"] == "/etc/syntraf/auth/peers"
        assert config["revision"] == config_revision(config)
        group, uid = config["group"], config["host"]
        assert path.name == f"{group}.json"
        expected = [e for e in plan["edges"] if e["group"] == group and uid in (e["src"], e["dst"])]
        assert [{k: e[k] for k in EDGE_KEYS} for e in config["edges"]] == expected
        for edge in config["edges"]:
            assert list(edge) == [*EDGE_KEYS, "src_address", "dst_address", "pkcs1_padding"]
        assert config["spool"]["directory"] == f"/var/lib/syntraf/spool/{group}"
        assert config["state_path"] == f"/run/syntraf/{group}.state.json"
        for database in config["databases"]:  # token files by the database's name, not its place
            assert database["token_path"] == f"/etc/syntraf/secrets/{database['name']}.token"
            assert "token" not in database


def test_unit_runs_the_probe_sandboxed_as_syntraf(golden_render):
    _, out = golden_render
    unit = (out / "mtl-1/etc/systemd/system/syntraf-probe@.service").read_text()
    for line in [
        "ExecStart=/usr/bin/python3 /opt/syntraf/syntraf-probe.pyz --config /etc/syntraf/%i.json",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "User=syntraf", "Group=syntraf", "Restart=always", "PartOf=syntraf.target", "WantedBy=syntraf.target",
        "StateDirectory=syntraf", "RuntimeDirectory=syntraf", "RuntimeDirectoryPreserve=yes",
        "NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes",
        "PrivateDevices=yes",
        "CapabilityBoundingSet=", "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK",
        "MemoryDenyWriteExecute=yes", "SystemCallArchitectures=native",
    ]:  # fmt: skip
        assert line in unit.splitlines(), line
    assert "[Install]" in (out / "mtl-1/etc/systemd/system/syntraf.target").read_text()


def test_render_writes_the_lock_and_plan_does_not(inventory, tmp_path, capsys):
    inv = inventory("syntraf_mesh_groups:\n  voip: {}\n").hosts(mesh_hosts("voip", "a", "b"))
    assert main(["plan", "-i", str(inv.root)]) == 0
    assert not (inv.root / LOCK_NAME).exists()
    assert main(["render", "-i", str(inv.root), "-o", str(tmp_path / "out")]) == 0
    assert json.loads((inv.root / LOCK_NAME).read_text())["ports"] == {
        "a": {"voip/a/b": 15000},
        "b": {"voip/b/a": 15000},
    }


def test_plan_json_output(inventory, capsys):
    inv = inventory("syntraf_mesh_groups:\n  voip: {dscp: ef}\n").hosts(mesh_hosts("voip", "a", "b", "c"))
    assert main(["plan", "-i", str(inv.root), "--format", "json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["schema"] == 2
    assert [list(edge) for edge in plan["edges"]] == [EDGE_KEYS] * 6
    assert {edge["dscp"] for edge in plan["edges"]} == {46}
    assert set(plan["hosts"]) == {"a", "b", "c"}
    assert plan["hosts"]["a"]["send_bps"] == 200_000 and plan["hosts"]["a"]["receive_bps"] == 200_000
    assert plan["totals"]["edges"] == 6


def test_plan_text_output(inventory, capsys):
    inv = inventory("syntraf_mesh_groups:\n  voip: {}\n").hosts(mesh_hosts("voip", "a", "b", "c"))
    assert main(["plan", "-i", str(inv.root)]) == 0
    text = capsys.readouterr().out
    assert text.startswith("6 edges in 1 mesh group(s) over 3 hosts")
    assert "voip" in text


def test_invalid_inventory_exits_2_and_writes_nothing(inventory, tmp_path, capsys):
    inv = inventory("syntraf_mesh_groups:\n  voip: {dscp: 64}\n").hosts(mesh_hosts("voip", "a", "b"))
    out = tmp_path / "out"
    for command in (["plan", "-i", str(inv.root)], ["render", "-i", str(inv.root), "-o", str(out)]):
        assert main(command) == 2
        error = capsys.readouterr().err
        assert "mesh group voip: syntraf_mesh_groups.voip.dscp" in error
    assert not out.exists()
    assert not (inv.root / LOCK_NAME).exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


def test_render_replaces_an_earlier_render_and_drops_stale_files(inventory, tmp_path):
    inv = inventory("syntraf_mesh_groups:\n  voip: {}\n  lab: {members: voip}\n").hosts(
        mesh_hosts("voip", "a", "b")
    )
    out = tmp_path / "out"
    write_tree(render_plan(compile_inventory(str(inv.root))), str(out))
    assert (out / "a/etc/syntraf/lab.json").exists()
    inv.group_vars("all", "syntraf_mesh_groups:\n  voip: {}\n")
    write_tree(render_plan(compile_inventory(str(inv.root))), str(out))
    assert not (out / "a/etc/syntraf/lab.json").exists()
    assert (out / "a/etc/syntraf/voip.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".out")) == []


def test_a_written_tree_has_exactly_its_files_and_directories(tmp_path):
    """Every directory once (a deep one listed alone, parents of files), files with the same content too."""
    tree = RenderedTree(
        files={"top.txt": "top\n", "a/b/c/one": "same\n", "a/d/two": "same\n", "e/three": "other é\n"},
        directories=["f/g/h", "a/b"],
    )
    out = tmp_path / "out"
    write_tree(tree, str(out))
    found = {str(p.relative_to(out)): p.is_dir() for p in out.rglob("*")}
    assert found == {
        **{name: False for name in tree.files},
        **{name: True for name in ("a", "a/b", "a/b/c", "a/d", "e", "f", "f/g", "f/g/h")},
    }
    assert {name: (out / name).read_text(encoding="utf-8") for name in tree.files} == tree.files
    assert oct((out / "a/d/two").stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_render_refuses_to_replace_a_directory_that_is_not_a_render(inventory, tmp_path, capsys):
    inv = inventory("syntraf_mesh_groups:\n  voip: {}\n").hosts(mesh_hosts("voip", "a", "b"))
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    assert main(["render", "-i", str(inv.root), "-o", str(precious)]) == 2
    assert "refusing" in capsys.readouterr().err
    assert (precious / "notes.txt").read_text() == "keep me"


def test_example_inventory_validates_plans_and_renders_with_its_committed_lock(tmp_path, capsys):
    example = Path(__file__).parents[2] / "inventories" / "example"
    inventory = tmp_path / "example"
    shutil.copytree(example, inventory)
    assert main(["plan", "-i", str(inventory)]) == 0
    assert "edges in 3 mesh group(s)" in capsys.readouterr().out
    assert main(["render", "-i", str(inventory), "-o", str(tmp_path / "out")]) == 0
    # The committed lock is what a render of the example writes (regenerate it with a render if not).
    assert (inventory / LOCK_NAME).read_text() == (example / LOCK_NAME).read_text()
    assert (tmp_path / "out/bastion-1/etc/syntraf").is_dir()
    assert not list((tmp_path / "out").rglob("maintenance.json"))


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze is not installed")
def test_systemd_accepts_the_rendered_units(golden_render, tmp_path):
    _, out = golden_render
    units = tmp_path / "units"
    units.mkdir()
    for name in ("syntraf.target", "syntraf-probe@.service"):
        shutil.copy(out / "mtl-1/etc/systemd/system" / name, units / name)
    shutil.copy(units / "syntraf-probe@.service", units / "syntraf-probe@voip.service")
    result = subprocess.run(
        [
            "systemd-analyze",
            "verify",
            str(units / "syntraf-probe@voip.service"),
            str(units / "syntraf.target"),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


def test_the_probe_reads_back_exactly_the_configs_the_controller_built(golden_render):
    """The contract both ways: the probe's own parser turns each rendered file into the very Config (the
    probe's type) that the controller built and serialised with the probe's own writer."""
    from syntraf_probe.config import load_config

    inventory, out = golden_render
    built = probe_configs(compile_inventory(str(inventory)))
    paths = sorted(out.glob("*/etc/syntraf/*.json"))
    assert len(paths) == len(built) == 5
    for path in paths:
        loaded = load_config(str(path))
        expected = built[(loaded.host, loaded.group)]
        assert dataclasses.replace(loaded, path=expected.path) == expected
        assert path.read_text() == config_text(loaded)  # the revision of its content, too


def test_render_refuses_an_output_inside_the_inventory_directory(inventory, capsys):
    inv = inventory("syntraf_mesh_groups:\n  voip: {}\n").hosts(mesh_hosts("voip", "a", "b"))
    assert main(["render", "-i", str(inv.root), "-o", str(inv.root / "rendered")]) == 2
    assert "inside the inventory directory" in capsys.readouterr().err
    assert not (inv.root / "rendered").exists() and not (inv.root / LOCK_NAME).exists()


def test_a_groups_echo_reaches_every_members_config_and_the_probe_reads_it(inventory, tmp_path, capsys):
    from syntraf_probe.config import load_config

    groups = "syntraf_mesh_groups:\n  voip: {dscp: 46, interval: 1, echo: {port: 25300}}\n"
    inv = inventory(groups).hosts(mesh_hosts("voip", "a", "b"))
    out = tmp_path / "out"
    assert main(["render", "-i", str(inv.root), "-o", str(out)]) == 0
    paths = sorted(out.glob("*/etc/syntraf/voip.json"))
    assert len(paths) == 2
    for path in paths:
        assert json.loads(path.read_text())["echo"] == {"port": 25300, "rate": 1, "codec": "g711"}
        assert load_config(str(path)).echo.port == 25300
    bad = inventory("syntraf_mesh_groups:\n  voip: {echo: {port: 0, codec: amr}}\n").hosts(
        mesh_hosts("voip", "a", "b")
    )
    assert main(["plan", "-i", str(bad.root)]) == 2
    error = capsys.readouterr().err
    assert "syntraf_mesh_groups.voip.echo.port" in error and "syntraf_mesh_groups.voip.echo.codec" in error
