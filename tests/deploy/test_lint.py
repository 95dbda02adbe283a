"""ansible-lint (production profile, .ansible-lint) passes on the roles and playbooks."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from syntraf_ctl.assets import COLLECTION_DIR, PACKAGE_DIR

REPO = Path(__file__).resolve().parents[2]


def test_ansible_lint_passes_on_roles_and_playbooks() -> None:
    lint = Path(sys.executable).parent / "ansible-lint"
    if not lint.exists() and shutil.which("ansible-lint") is None:
        pytest.skip("ansible-lint is not installed (pip install -e '.[test]')")
    done = subprocess.run(
        [
            str(lint if lint.exists() else "ansible-lint"),
            "--nocolor",
            str(COLLECTION_DIR / "roles"),
            str(COLLECTION_DIR / "playbooks"),
        ],
        cwd=REPO,
        env={**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(PACKAGE_DIR)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Profile 'production' was required, and it passed" in done.stdout + done.stderr
