"""What the WAN lab tests share: skipping (with the reason) where a WAN lab cannot run."""

from __future__ import annotations

import pytest

from syntraf_ctl.lab.preflight import unmet_wan_requirements


def require_wan() -> None:
    problem = unmet_wan_requirements()
    if problem:
        pytest.skip(f"WAN lab tests: {problem}")
