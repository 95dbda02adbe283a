"""Voice quality from what an edge measured: the ITU-T G.107 E-model in its common simplified form.

    R = 93.2 - Id - Ie,eff                                 (G.107 default R0 - Is = 93.2; A = 0)
    Id = 0.024 d + 0.11 (d - 177.3) H(d - 177.3)           (Cole & Rosenbluth 2001, from G.107's Idd;
                                                            echo assumed cancelled: Idte = Idle = 0)
    Ie,eff = Ie + (95 - Ie) Ppl / (Ppl / BurstR + Bpl)     (G.107 §7.2, Ppl in %)
    MOS = 1 + 0.035 R + R (R - 60) (100 - R) 7e-6          (G.107 Annex B; 1 below R 0, 4.5 above 100)

d, the one-way mouth-to-ear delay in ms, is half the RTT, plus a jitter buffer of twice the jitter, plus
the codec's own delay (frame, look-ahead and packetisation). Limits (docs/metrics.md): narrowband only
(an Opus-like wideband codec is scored as if narrowband), BurstR is 1 (iperf3 reports no loss pattern:
bursty loss is scored as random, which flatters it), no echo, no noise.
"""

from __future__ import annotations

from dataclasses import dataclass

R_DEFAULT = 93.2  # G.107 Table 3 defaults: Ro - Is with all other parameters at their default


@dataclass(frozen=True)
class Codec:
    ie: float  # equipment impairment factor
    bpl: float  # packet-loss robustness factor
    delay_ms: float  # frame + look-ahead + one packet of packetisation


# Ie and Bpl from ITU-T G.113 Appendix I (Tables I.1 and I.3); codec delays from G.711 (0.125 ms frame),
# G.729 (10 ms frame, 5 ms look-ahead) and RFC 6716 (Opus: 20 ms frame, 6.5 ms look-ahead), each with one
# 20 ms packet. "opus" has no ITU-T value: it is scored as G.711 with loss concealment (an assumption).
CODECS = {
    "g711": Codec(ie=0.0, bpl=4.3, delay_ms=20.125),  # G.711 without packet loss concealment
    "g711-plc": Codec(ie=0.0, bpl=25.1, delay_ms=20.125),  # G.711 with Appendix I concealment
    "g729": Codec(ie=11.0, bpl=19.0, delay_ms=35.0),  # G.729A (+VAD)
    "opus": Codec(ie=0.0, bpl=25.1, delay_ms=46.5),
}


def delay_impairment(one_way_ms: float) -> float:
    return 0.024 * one_way_ms + (0.11 * (one_way_ms - 177.3) if one_way_ms > 177.3 else 0.0)


def effective_equipment_impairment(codec: Codec, loss_pct: float, burst_ratio: float = 1.0) -> float:
    loss_pct = max(0.0, loss_pct)
    return codec.ie + (95 - codec.ie) * loss_pct / (loss_pct / burst_ratio + codec.bpl)


def mouth_to_ear_ms(rtt_ms: float, jitter_ms: float, codec: Codec) -> float:
    return rtt_ms / 2 + 2 * jitter_ms + codec.delay_ms


def r_factor(rtt_ms: float, jitter_ms: float, loss_pct: float, codec: Codec) -> float:
    delay = mouth_to_ear_ms(rtt_ms, jitter_ms, codec)
    return R_DEFAULT - delay_impairment(delay) - effective_equipment_impairment(codec, loss_pct)


def mos(r: float) -> float:
    """The mean opinion score (conversational quality, 1 to 4.5) of a rating R."""
    if r <= 0:
        return 1.0
    if r >= 100:
        return 4.5
    return 1 + 0.035 * r + r * (r - 60) * (100 - r) * 7e-6
