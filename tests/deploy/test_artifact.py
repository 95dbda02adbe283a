"""The probe zipapp: reproducible, self-contained, runnable by the system's python3 without the venv."""

from __future__ import annotations

import os
import subprocess
import zipfile
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

from syntraf_ctl.artifact import build, lowest_python, required_distributions, shebang


def test_two_builds_are_byte_identical_and_cached_by_content(tmp_path: Path) -> None:
    first = build(tmp_path / "a")
    second = build(tmp_path / "b")
    assert Path(first.path).read_bytes() == Path(second.path).read_bytes()
    assert first.digest == second.digest and first.digest[:16] in Path(first.path).name
    mtime = Path(first.path).stat().st_mtime_ns
    assert build(tmp_path / "a").path == first.path
    assert Path(first.path).stat().st_mtime_ns == mtime  # reused, not rewritten


def test_holds_the_probe_and_its_pure_python_dependencies_only(tmp_path: Path) -> None:
    artifact = build(tmp_path)
    assert Path(artifact.path).read_bytes().startswith(shebang())
    names = zipfile.ZipFile(artifact.path).namelist()
    assert "__main__.py" in names
    for package in ("syntraf_probe/", "influxdb_client/", "urllib3/", "reactivex/", "certifi/", "dateutil/"):
        assert any(name.startswith(package) for name in names), package
    assert not [name for name in names if name.endswith((".pyc", ".so")) or "__pycache__" in name]
    assert not [
        name for name in names if name.split("/")[0] in ("ansible", "syntraf_ctl", "pytest", "jinja2")
    ]


def test_requires_python_is_the_strictest_bundled_lower_bound() -> None:
    dists = required_distributions()
    assert {dist.metadata["Name"].lower() for dist in dists} >= {
        "syntraf-probe",
        "influxdb-client",
        "urllib3",
    }
    version = lowest_python(dists)
    for dist in dists:
        spec = SpecifierSet(dist.metadata.get("Requires-Python") or "")
        assert spec.contains(version), (dist.metadata["Name"], str(spec))
    # the probe promises Python 3.9 (RHEL 9, Ubuntu 22.04): probe/pyproject.toml bounds its dependencies so
    assert version == "3.9"


SYSTEM_PYTHON = "/usr/bin/python3"  # what hosts run the zipapp with


@pytest.mark.skipif(not Path(SYSTEM_PYTHON).exists(), reason=f"no {SYSTEM_PYTHON}")
def test_system_python_imports_the_probe_from_the_zipapp_alone(tmp_path: Path) -> None:
    artifact = build(tmp_path)
    # -S: no site-packages at all, so everything must come from the zipapp.
    code = f"import sys; sys.path.insert(0, {artifact.path!r}); import syntraf_probe.cli, influxdb_client; "
    code += "print(influxdb_client.__file__)"
    done = subprocess.run(
        ["/usr/bin/env", "-i", SYSTEM_PYTHON, "-I", "-S", "-c", code], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(artifact.path)


def test_the_cache_keeps_only_the_newest_artifacts(tmp_path: Path) -> None:
    for index in range(7):
        old = tmp_path / f"syntraf-probe-{index:016x}.pyz"
        old.write_bytes(b"old")
        os.utime(old, (1000 + index, 1000 + index))
    artifact = build(tmp_path)
    left = sorted(path.name for path in tmp_path.glob("syntraf-probe-*.pyz"))
    assert Path(artifact.path).name in left and len(left) == 5
    assert f"syntraf-probe-{6:016x}.pyz" in left and f"syntraf-probe-{0:016x}.pyz" not in left
