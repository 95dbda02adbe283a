"""Review cases M8-M13 and M16: imported values stay data (Ansible never templates them), the import is
checked with plan's own rules before anything is written, and nothing is written before an error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from import_toml.conftest import syntraf_ctl
from import_toml.test_convert import MINIMAL_NODES

DATABASE_AND_GROUP = """\
[[DATABASE]]
DB_UID = "MAIN"
DB_SERVER = "10.2.0.20"
DB_PORT = "8086"
DB_TOKEN = "{token}"
DB_ORG = "{org}"
DB_BUCKET = "{bucket}"

[[MESH_GROUP]]
UID = "LAB"
BANDWIDTH = "100k"
"""


def toml(tmp_path: Path, uid: str = "node-a", address: str = "192.0.2.1", **database: str) -> str:
    settings = {"token": "tok", "org": "noc", "bucket": "syntraf", **database}
    nodes = MINIMAL_NODES.replace('"node-a"', f'"{uid}"').replace('"192.0.2.1"', f'"{address}"')
    path = tmp_path / "syntraf.toml"
    path.write_text(DATABASE_AND_GROUP.format(**settings) + nodes)
    return str(path)


def test_imported_strings_are_never_templated(tmp_path: Path) -> None:  # M11-M13
    marker = tmp_path / "ran"
    bucket = f"{{{{ lookup('pipe','touch {marker} && echo B') }}}}"
    source = toml(tmp_path, bucket=bucket, org="{{ 7 * 6 }}", token="{{tok}}")
    out = tmp_path / "inv"
    result = syntraf_ctl("import-toml", source, "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert "!unsafe" in (out / "group_vars/all/syntraf.yml").read_text()
    planned = syntraf_ctl("plan", "-i", str(out), "--format", "json")
    assert planned.returncode == 0, planned.stderr
    rendered = syntraf_ctl("render", "-i", str(out), "-o", str(tmp_path / "out"))
    assert rendered.returncode == 0, rendered.stderr
    config = json.loads((tmp_path / "out/node-a/etc/syntraf/LAB.json").read_text())
    assert config["databases"][0]["bucket"] == bucket
    assert config["databases"][0]["org"] == "{{ 7 * 6 }}"
    assert not marker.exists()


@pytest.mark.parametrize(
    ("values", "fragments"),
    [
        ({"uid": "U" * 100}, ("host " + "U" * 100, "syntraf_uid", "1-64")),  # M9
        ({"address": "10.0.0.999"}, ("inv/hosts.yml:", "host node-a", "ansible_host", "10.0.0.999")),  # M10
    ],
)
def test_the_import_is_checked_with_plans_rules_before_writing(tmp_path, values, fragments) -> None:
    out = tmp_path / "inv"
    result = syntraf_ctl("import-toml", toml(tmp_path, **values), "-o", str(out))
    assert result.returncode == 2
    assert any(all(f in line for f in fragments) for line in result.stderr.splitlines()), result.stderr
    assert "nothing written" in result.stderr
    assert not out.exists()


def test_a_client_uid_equal_to_a_group_uid_is_refused(tmp_path) -> None:  # M16
    out = tmp_path / "inv"
    result = syntraf_ctl("import-toml", toml(tmp_path, uid="LAB"), "-o", str(out))
    assert result.returncode == 2
    assert "UID 'LAB' is also the name of a mesh group" in result.stderr
    assert not out.exists()


def test_output_that_is_a_file_is_a_clear_error(tmp_path) -> None:  # M8
    out = tmp_path / "inv"
    out.write_text("mine\n")
    result = syntraf_ctl("import-toml", toml(tmp_path), "-o", str(out))
    assert result.returncode == 2
    assert f"{out} is a file: -o takes the inventory directory" in result.stderr
    assert out.read_text() == "mine\n"


def test_nothing_is_written_before_an_error(tmp_path) -> None:  # M8b
    out = tmp_path / "inv"
    out.mkdir()
    (out / "group_vars").write_text("mine\n")
    result = syntraf_ctl("import-toml", toml(tmp_path), "-o", str(out))
    assert result.returncode == 2
    assert "group_vars is a file where a directory is needed" in result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["group_vars"]
