"""The collection syntraf.mesh builds, installs offline from its tarball, and passes ansible-lint (production
profile) as installed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.collection import build_and_install


def test_the_collection_builds_installs_offline_and_passes_ansible_lint(tmp_path: Path) -> None:
    lint = Path(sys.executable).parent / "ansible-lint"
    if not lint.exists() and shutil.which("ansible-lint") is None:
        pytest.skip("ansible-lint is not installed (pip install -e '.[test]')")
    collections = build_and_install(tmp_path)
    installed = collections / "ansible_collections/syntraf/mesh"
    for part in ("MANIFEST.json", "roles/syntraf_probe/vars/main.yml", "plugins/modules/syntraf_files.py",
                 "plugins/action/syntraf_files.py", "playbooks/deploy.yml"):  # fmt: skip
        assert (installed / part).is_file(), part
    done = subprocess.run(
        [str(lint if lint.exists() else "ansible-lint"), "--nocolor", "--offline", "--profile", "production"],
        cwd=installed,
        env={**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(collections)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Profile 'production' was required, and it passed" in done.stdout + done.stderr
