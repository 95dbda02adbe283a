from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
VALID_CONFIGS = ("readme_example.toml", "multigroup.toml", "include_only.toml", "profiles.toml")


def syntraf_ctl(*args: str) -> subprocess.CompletedProcess:
    """The real command line, in a child process, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "syntraf_ctl.cli", *args], capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def imported(tmp_path: Path):
    """Import a fixture config into a fresh inventory directory (under pytest's per-test tmp_path)."""

    def run(name: str, *extra: str) -> tuple[Path, subprocess.CompletedProcess]:
        out = tmp_path / f"inventory-{Path(name).stem}"
        result = syntraf_ctl("import-toml", str(FIXTURES / name), "-o", str(out), *extra)
        assert result.returncode == 0, result.stderr
        return out, result

    return run
