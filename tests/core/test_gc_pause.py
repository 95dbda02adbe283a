"""gc_paused: no cyclic collection inside, the collector's previous state after, even on an exception."""

from __future__ import annotations

import gc

import pytest

from syntraf_ctl.gc_pause import gc_paused


@pytest.fixture
def collector_state():
    """Whatever a test does to the collector, the suite gets it back as it was."""
    enabled = gc.isenabled()
    yield
    (gc.enable if enabled else gc.disable)()


@pytest.mark.parametrize("enabled", [True, False])
def test_the_collector_is_off_inside_and_as_before_after(collector_state, enabled) -> None:
    (gc.enable if enabled else gc.disable)()
    with gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled() is enabled


def test_the_collector_is_back_after_an_exception(collector_state) -> None:
    gc.enable()
    with pytest.raises(ValueError), gc_paused():
        raise ValueError("boom")
    assert gc.isenabled()
