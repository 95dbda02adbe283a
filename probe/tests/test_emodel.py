"""The E-model against values worked out by hand from its formulas (emodel.py)."""

from __future__ import annotations

import pytest
from syntraf_probe.emodel import (
    CODECS,
    delay_impairment,
    effective_equipment_impairment,
    mos,
    mouth_to_ear_ms,
    r_factor,
)


def test_mos_of_the_default_rating():
    # 1 + 0.035 * 93.2 + 93.2 * 33.2 * 6.8 * 7e-6 = 1 + 3.262 + 0.1473
    assert mos(93.2) == pytest.approx(4.409, abs=0.001)


def test_mos_is_clamped_outside_0_to_100():
    assert (mos(-5), mos(0), mos(100), mos(120)) == (1.0, 1.0, 4.5, 4.5)
    assert mos(50) == pytest.approx(1 + 1.75 + 50 * -10 * 50 * 7e-6)  # 2.575


def test_effective_equipment_impairment_at_1_percent_random_loss():
    assert effective_equipment_impairment(CODECS["g711"], 1.0) == pytest.approx(95 / 5.3)  # 17.92
    assert effective_equipment_impairment(CODECS["g711-plc"], 1.0) == pytest.approx(95 / 26.1)  # 3.64
    assert effective_equipment_impairment(CODECS["g729"], 1.0) == pytest.approx(11 + 84 / 20)  # 15.2
    assert effective_equipment_impairment(CODECS["g729"], 0.0) == 11.0


def test_delay_impairment_bends_at_177_3_ms():
    assert delay_impairment(150) == pytest.approx(3.6)
    assert delay_impairment(200) == pytest.approx(4.8 + 0.11 * 22.7)  # 7.297


def test_rating_of_an_80_ms_rtt_path_without_loss():
    # d = 40 + 0 + 20.125 ms; Id = 1.443; R = 91.757; MOS = 4.380
    assert mouth_to_ear_ms(80, 0, CODECS["g711"]) == pytest.approx(60.125)
    r = r_factor(80, 0, 0, CODECS["g711"])
    assert r == pytest.approx(93.2 - 0.024 * 60.125)
    assert mos(r) == pytest.approx(4.380, abs=0.001)


def test_mos_falls_as_loss_rises():
    scores = [mos(r_factor(80, 1, loss, CODECS["g711"])) for loss in (0, 1, 3, 10, 100)]
    assert scores == sorted(scores, reverse=True) and scores[-1] < 1.05  # R 0.6 at 100 % loss
