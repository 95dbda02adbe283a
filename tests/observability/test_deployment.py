"""What the observability role deploys: the pack's deployment document, vmalert's unit (checked by the real
systemd-analyze), the pack inside a render, and the role's token lookup (templated by real Ansible)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

from syntraf_ctl.assets import COLLECTION_DIR
from syntraf_ctl.compile import compile_inventory
from syntraf_ctl.observability import deployment
from syntraf_ctl.observability.deployment import GRAFANA_PROVISIONING
from syntraf_ctl.observability.pack import RENDER_DIR, add_to_render, compile_pack
from syntraf_ctl.render import RenderedTree
from syntraf_ctl.render_target import MARKER
from tests.observability.conftest import TOKEN, make_inventory

ROLE = COLLECTION_DIR / "roles" / "syntraf_observability"


def test_every_file_of_the_pack_has_one_place(pack_files: dict[str, str]) -> None:
    document = json.loads(pack_files["deploy.json"])
    placed = [file for side in ("grafana", "alerting") for file in document[side]["files"]]
    placed.append(document["alerting"]["unit"])
    sources = [file["source"] for file in placed]
    shipped = {path for path in pack_files if path.startswith(("grafana/", "rules/", "alerting/"))}
    assert sorted(sources) == sorted(shipped)
    targets = [file["path"] for file in placed]
    assert len(set(targets)) == len(targets)
    grafana = document["grafana"]
    assert all(
        file["path"].startswith(("/var/lib/grafana/dashboards/syntraf/", "/etc/grafana/provisioning/"))
        for file in grafana["files"]
    )
    # the data sources read the very file the role writes the token to
    sources_file = pack_files["grafana/provisioning/datasources/syntraf.yaml"]
    assert f"$__file{{{grafana['token']}}}" in sources_file
    assert document["alerting"]["token"] in pack_files["alerting/syntraf-vmalert.service"]
    assert document["database"] == "influxdb-0"


def test_destroy_owns_every_place_the_pack_deploys_to(pack_files: dict[str, str]) -> None:
    """What destroy removes (the role's syntraf_observability_owned, no render needed) covers every file,
    token, directory and the unit the document of a pack deploys, and nothing of Grafana's own beside them."""
    document, owned = json.loads(pack_files["deploy.json"]), deployment.owned()
    for side in ("grafana", "alerting"):
        places = [file["path"] for file in document[side]["files"]] + [document[side]["token"]]
        # the directories too, except Grafana's own provisioning directories (they stay)
        places += [d for d in document[side]["directories"] if not d.startswith(GRAFANA_PROVISIONING)]
        places += [document[side]["prune"]["directory"]]
        places += [document["alerting"]["notifier"]] if side == "alerting" else []
        for place in places:
            assert any(place == path or place.startswith(f"{path}/") for path in owned[side]["paths"]), place
    assert owned["alerting"]["unit"] == document["alerting"]["unit"]["name"]
    assert not {"/etc/grafana", "/var/lib/grafana", "/etc/grafana/provisioning"} & set(
        owned["grafana"]["paths"]
    )


def test_vmalert_unit_points_at_the_database_with_no_secret(pack_files: dict[str, str]) -> None:
    unit = pack_files["alerting/syntraf-vmalert.service"]
    assert (
        "-datasource.url=http://127.0.0.1:8428" in unit and "-remoteWrite.url=http://127.0.0.1:8428" in unit
    )
    assert "-datasource.bearerTokenFile=${CREDENTIALS_DIRECTORY}/token" in unit
    assert "LoadCredential=token:/etc/syntraf-alerting/secrets/influxdb-0.token" in unit
    assert TOKEN not in unit and TOKEN not in pack_files["deploy.json"]


def test_vmalert_unit_passes_systemd_analyze_verify(tmp_path: Path, pack_files: dict[str, str]) -> None:
    """systemd's own parser: unknown keys (only warned about) and a missing binary are failures here."""
    if shutil.which("systemd-analyze") is None or shutil.which("vmalert") is None:
        pytest.skip("systemd-analyze or vmalert (scripts/setup.sh installs victoria-metrics) is missing")
    unit = tmp_path / "syntraf-vmalert.service"
    unit.write_text(pack_files["alerting/syntraf-vmalert.service"])
    done = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert (done.returncode, done.stderr) == (0, ""), done.stderr


def test_unit_asks_tls_as_the_database_does(tmp_path: Path) -> None:
    tls = '"http://127.0.0.1:8428", ca_path: /etc/ssl/db.pem, verify_tls: false'
    root = make_inventory(tmp_path / "inv")
    main = root / "group_vars" / "all" / "main.yml"
    main.write_text(main.read_text().replace('"http://127.0.0.1:8428"', tls))
    plan = compile_inventory(str(root))
    unit = compile_pack(plan, plan.alerts).files["alerting/syntraf-vmalert.service"]
    for client in ("datasource", "remoteWrite", "remoteRead"):
        assert f"-{client}.tlsCAFile=/etc/ssl/db.pem" in unit
        assert f"-{client}.tlsInsecureSkipVerify" in unit


def test_a_render_carries_the_pack_when_the_inventory_has_hosts_for_it(
    tmp_path: Path, pack_files: dict[str, str]
) -> None:
    root = make_inventory(tmp_path / "inv")
    without = compile_inventory(str(root))
    hosts = root / "hosts.yml"
    hosts.write_text(hosts.read_text().replace("}}}}}", "}}}, syntraf_alerting: {hosts: {c: }}}}"))
    plan = compile_inventory(str(root))
    assert plan.pack_hosts == ["c"]
    rendered = add_to_render(RenderedTree(files={"a/host.json": "{}\n", MARKER: "render\n"}), plan).files
    expected = {f"{RENDER_DIR}/{path}": text for path, text in pack_files.items() if path != MARKER}
    assert {path: text for path, text in rendered.items() if path.startswith(f"{RENDER_DIR}/")} == expected
    assert rendered["a/host.json"] == "{}\n" and rendered[MARKER] == "render\n"
    # no host to deploy it to: the render is what it was (and costs nothing more)
    assert without.pack_hosts == []
    assert add_to_render(RenderedTree(files={MARKER: "render\n"}), without).files == {MARKER: "render\n"}


@pytest.mark.parametrize(
    ("databases", "database", "token"),
    [
        ([{"token": "t0"}, {"token": "t1"}], "influxdb-1", "t1"),  # unnamed: named by its index
        ([{"name": "lab", "token": "t0"}, {"token": "t1"}], "lab", "t0"),
        ([{"name": "lab", "token": "t0"}], "influxdb-0", ""),  # none: the role's assert refuses it
    ],
)
def test_role_takes_the_token_of_the_packs_database(databases: list, database: str, token: str) -> None:
    """The role's own expression (vars/main.yml), templated by Ansible as a play would (a role's files are
    trusted templates)."""
    variables = DataLoader().load_from_file(str(ROLE / "vars" / "main.yml"))
    context = {
        **variables,
        "syntraf_influxdb": databases,
        "syntraf_observability_doc": {"database": database},
    }
    templar = Templar(loader=DataLoader(), variables=context)
    assert templar.template(trust_as_template(variables["syntraf_observability_token"])) == token
