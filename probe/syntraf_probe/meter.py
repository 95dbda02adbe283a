"""Per-edge accounting at the receiver: iperf3 intervals and silence in, one sample per interval out.

Pure: it is told the wall-clock time, it never reads a clock. The loss rule (docs/metrics.md):
- a measured interval is written as iperf3 reports it (`packets` = how far the sequence numbers advanced,
  `lost` = the gaps);
- an interval with no traffic (iperf3's `0/0`, or silence: no iperf3 output, no test, a listener nobody
  reaches) is written as an outage: `up=0`, `loss_pct=100`, and `packets = lost =` what the sender should
  have sent in it (the configured rate);
- the packets written as lost in outage intervals of a test that is still running are owed: when traffic
  returns in the same test, iperf3 reports the whole gap as loss in its first interval, and the owed count
  is subtracted from that interval's `packets` and `lost` (never below zero). A test that ended during the
  outage never reports the gap, so what was written stands.
So over any window the sum of `lost` is what iperf3 counted as dropped, plus, for stretches no test could
cover, the configured rate times their length.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from .parse import Interval

OUTAGE_FRACTION = 0.5  # an interval with fewer packets than this share of the expected ones, and none lost,
# is the start of an outage: traffic stopped part way through it
PARTIAL_FRACTION = 0.75  # shorter intervals are the partial last one of a test: not a measurement


@dataclass(frozen=True)
class Sample:
    time: float  # wall clock, end of the interval
    bitrate_bps: float
    jitter_ms: Optional[float]
    packets: int
    lost: int
    loss_pct: float
    up: int

    def as_dict(self) -> dict:
        return {
            "time": round(self.time, 3),
            "bitrate_bps": self.bitrate_bps,
            "jitter_ms": self.jitter_ms,
            "packets": self.packets,
            "lost": self.lost,
            "loss_pct": self.loss_pct,
            "up": self.up,
        }


class ReceiverMeter:
    def __init__(self, interval: float, packets_per_second: float, now: float) -> None:
        self.interval = interval
        self.packets_per_second = packets_per_second
        self.grace = max(0.2, interval / 4)  # how late an interval's line may be before silence counts
        self.last_time: Optional[float] = None  # time of the last sample written
        self.created = now
        self.test_open = False
        self.test_started_at: Optional[float] = None
        self.origin: Optional[float] = None  # wall time of the current test's second 0
        self.seen: set = set()
        self.owed = 0
        self.suspect = False  # the last interval looked like the start of an outage (shown as one)
        self.last_sample: Optional[Sample] = None

    # --- events from the iperf3 child -------------------------------------------------------------

    def on_test_started(self, now: float) -> list[Sample]:
        """A new test is up; silence before it is written first, so the test's samples follow.

        3.12 text output flushes the start lines only with the first interval line, so the test may have
        begun an interval ago: silence is written up to there only.
        """
        out = self._silence_until(now - self.interval)
        self.test_open, self.test_started_at = True, now
        self.origin, self.owed = None, 0
        self.seen = set()
        return out

    def on_test_ended(self) -> None:
        self.test_open, self.test_started_at, self.owed = False, None, 0

    def on_interval(self, iv: Interval, now: float) -> list[Sample]:
        if not self.test_open:  # a line without a start line seen (e.g. json start lost): begin here
            self.test_open, self.test_started_at, self.origin, self.owed = True, now, None, 0
        key = (iv.start, iv.end)
        length = iv.end - iv.start
        if key in self.seen or length < PARTIAL_FRACTION * self.interval:
            return []  # iperf3's repeated last line, or a partial final interval
        self.seen.add(key)
        if self.origin is None:
            # lines arrive at the interval's end (--forceflush / json-stream); never overlap the previous test
            self.origin = now - iv.end
            if self.last_time is not None:
                self.origin = max(self.origin, self.last_time - iv.start)
        time = self.origin + iv.end
        if self.last_time is not None and time < self.last_time + self.interval / 2:
            # iperf3 stalled and silence was written for this slot already: re-align after it
            if iv.packets <= 0:
                return []
            self.origin += self.last_time + length - time
            time = self.last_time + length
        expected = self.packets_per_second * length
        if iv.packets <= 0:
            return [self._outage(time, expected)]
        packets, lost = iv.packets, iv.lost
        if self.owed and lost > 0:
            settled = min(lost, self.owed)
            packets, lost = packets - settled, lost - settled
        self.owed = 0
        self.suspect = lost <= 0 and iv.packets < OUTAGE_FRACTION * expected
        loss_pct = 100.0 * lost / packets if packets > 0 and lost > 0 else 0.0
        return [self._emit(Sample(time, iv.bits_per_second, iv.jitter_ms, packets, lost, loss_pct, 1))]

    # --- the clock ----------------------------------------------------------------------------------

    def tick(self, now: float) -> list[Sample]:
        """Outage samples for every interval slot that ended without a line from iperf3."""
        # a fresh test gets two intervals to print its first line; a stalled one does not
        if (
            self.test_open
            and self.test_started_at is not None
            and now < self.test_started_at + 2 * self.interval + self.grace
        ):
            return []
        return self._silence_until(now - self.interval - self.grace)

    def _silence_until(self, limit: float) -> list[Sample]:
        out = []
        base = self.last_time if self.last_time is not None else self.created
        while base + self.interval <= limit:
            base += self.interval
            out.append(self._outage(base, self.packets_per_second * self.interval))
        return out

    def _outage(self, time: float, expected: float) -> Sample:
        packets = round(expected)
        if self.test_open:
            self.owed += packets  # iperf3 will report these as lost if traffic returns in this test
        self.suspect = False
        return self._emit(Sample(time, 0.0, None, packets, packets, 100.0, 0))

    def _emit(self, sample: Sample) -> Sample:
        self.last_time = sample.time
        self.last_sample = sample
        return sample

    @property
    def measuring(self) -> bool:
        return self.last_sample is not None and self.last_sample.up == 1 and not self.suspect
