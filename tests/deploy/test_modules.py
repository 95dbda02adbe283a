"""The collection's modules' host-side decisions, on real files: what a no-op deploy compares instead of
sending (the zipapp by SHA-256, owner, group and mode), and which units still need starting."""

from __future__ import annotations

import hashlib
import importlib.util
import os
from pathlib import Path
from types import ModuleType

import pytest
from ansible.utils.hashing import secure_hash

from syntraf_ctl.assets import COLLECTION_DIR


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        f"{name}_under_test", COLLECTION_DIR / f"plugins/modules/{name}.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(os.geteuid() != 0, reason="the zipapp is root-owned on a host: comparing it needs root")
def test_a_copy_is_outdated_when_missing_or_different_in_content_group_or_mode(tmp_path: Path) -> None:
    files = load("syntraf_files")
    path = tmp_path / "syntraf-probe.pyz"
    content = os.urandom(3 << 20)  # more than one read block

    def check() -> bool:  # the module gives the host copy's SHA-256 as AnsibleModule.sha256 reads it
        return files.outdated(entry, secure_hash(str(path), hashlib.sha256), check_mode=False)

    entry = {
        "path": str(path),
        "sha256": hashlib.sha256(content).hexdigest(),
        "group": "root",
        "mode": "0644",
    }
    assert check()  # missing
    path.write_bytes(content)
    os.chown(path, 0, 0)
    path.chmod(0o644)
    assert not check()
    path.chmod(0o666)
    assert check()
    path.chmod(0o644)
    path.write_bytes(content + b"\n")
    assert check()


def test_units_not_both_enabled_and_active_are_listed_in_order() -> None:
    """`systemctl show --property=Id,ActiveState,UnitFileState` as systemd 252 prints it (a lab host)."""
    states = load("syntraf_unit_states")
    output = (
        "Id=syntraf.target\nActiveState=active\nUnitFileState=enabled\n\n"
        "Id=syntraf-probe@voip.service\nActiveState=inactive\nUnitFileState=disabled\n\n"
        "Id=syntraf-probe@bulk.service\nActiveState=active\nUnitFileState=enabled\n\n"
        "Id=syntraf-probe@new.service\nActiveState=inactive\nUnitFileState=\n"
    )
    units = [
        "syntraf.target",
        *(f"syntraf-probe@{group}.service" for group in ("voip", "bulk", "new", "gone")),
    ]
    assert states.not_running(units, states.parse_show(output)) == [
        "syntraf-probe@voip.service", "syntraf-probe@new.service", "syntraf-probe@gone.service"
    ]  # fmt: skip
