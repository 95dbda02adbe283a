"""Per-edge accounting at the receiver: iperf3 intervals and silence in, one sample per interval out.

Pure: it is told the time (monotonic seconds) and never reads a clock; slots are scheduled on that clock
and converted to wall time by `wall` only when a sample is made, so a step of the wall clock moves no slot.
The rules (docs/metrics.md):
- a measured interval is written as iperf3 reports it (`packets` = how far the sequence numbers advanced,
  `lost` = the gaps);
- an interval with no traffic inside a test (iperf3's `0/0`, or a stalled iperf3) is held for one interval
  and then written as an outage (`up=0`, `packets = lost =` the configured rate); when traffic comes back in
  the same test, iperf3 reports what the gap really lost, and the gap's slots are written (again, same
  timestamp: the database keeps the last) with that loss, the rest of the gap as delayed (`up=1`, 0/0);
- between a clean end of a test (its summary) and the next test's first line, slots are not measured (no
  point) as long as the next test makes progress: its control connection within `CONNECT_BOUND` of the
  end, then its first line within `SETUP_BOUND` and an interval; when it fails on the network or falls
  behind, the slots since the last point are an outage. Near a test's end its summary is waited for an
  interval and `SETUP_BOUND`. At startup the first line may take `restart_bound`;
- while the edge cannot measure for a reason that is not the network (`excuse`: a configuration error, a
  refused connection, a busy listener, the probe's own backoff), slots pass without a point. The excuse
  lasts until the initiator tries again: that attempt is judged like the next test at a boundary (its
  control connection within `CONNECT_BOUND`, then its first line), so a path that fails while the edge
  waited is an outage from the attempt's slot on.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Optional

from .parse import Interval

OUTAGE_FRACTION = 0.5  # an interval with fewer packets than this share of the expected ones, and none lost,
# is the start of an outage: traffic stopped part way through it
PARTIAL_FRACTION = 0.75  # shorter intervals are the partial last one of a test: not a measurement
BOUNDARY_SLACK = 3.0  # seconds a restart between two tests may take beyond the connect timeout
# From a clean end to the next test's control connection on a working path: the process start, the TCP
# connect and the answer to the cookie (2 RTT), even with a lost SYN (retried after 1 s) at 500 ms RTT.
CONNECT_BOUND = 2.5
# From the control connection to the data: parameters, streams and UDP handshake, test start (3 RTT).
SETUP_BOUND = 1.5


def grace(interval: float) -> float:
    """How late an interval's line may be before silence counts."""
    return max(0.2, interval / 4)


def restart_bound(interval: float, connect_timeout: float) -> float:
    """How long the next test may take to print its first line after the previous one ended cleanly: the
    connect timeout, a few seconds of setup (about 6 RTT), then one interval until its first line."""
    return connect_timeout + BOUNDARY_SLACK + interval + grace(interval)


@dataclass(frozen=True)
class Sample:
    time: float  # wall clock, end of the interval
    bitrate_bps: float
    jitter_ms: Optional[float]
    packets: int
    lost: int
    loss_pct: float
    up: int
    out_of_order: Optional[int] = None  # set on a test's last sample: out-of-order + duplicate datagrams

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


def _outage(time: float, packets: int) -> Sample:
    return Sample(time, 0.0, None, packets, packets, 100.0, 0)


def _delayed(time: float) -> Sample:
    """A slot in which nothing arrived although nothing was lost (a hold): up, 0/0."""
    return Sample(time, 0.0, None, 0, 0, 0.0, 1)


@dataclass
class _GapSlot:
    time: float  # monotonic end of the slot
    expected: int
    written: Optional[Sample] = None  # None while held


class ReceiverMeter:
    def __init__(
        self,
        interval: float,
        packets_per_second: float,
        now: float,
        restart_bound: float,
        test_duration: Optional[float] = None,
        wall: Optional[Callable[[float], float]] = None,
    ) -> None:
        self.interval = interval
        self.packets_per_second = packets_per_second
        self.grace = grace(interval)
        self.restart_bound = restart_bound
        self.test_duration = test_duration
        self.wall = wall or (lambda time: time)
        self.cursor = now  # end of the last slot accounted for (measured, outage or not measured)
        self.pending_until: Optional[float] = now + restart_bound  # judge no silence before this
        self.excused = False
        self.silence_counts = False  # the slots since the cursor are an outage (the network failed)
        self.test_open = False
        self.origin: Optional[float] = None  # monotonic time of the current test's second 0
        self.seen: set = set()
        self.gap: list[_GapSlot] = []  # the open test's slots without traffic since its last traffic
        self.short: Optional[tuple[Sample, int]] = None  # an interval that looked like an outage's start
        self.test_last: Optional[Sample] = None  # the open (or just ended) test's last sample
        self.test_lost = 0  # what the open test's interval lines reported lost
        self.back: Optional[float] = None  # when a test connected again during an outage: the path is back
        self.carry = 0.0  # the fraction of a datagram not yet counted in an outage
        self.last_outage: Optional[_GapSlot] = None  # the last outage slot written (monotonic time)
        self.last_sample: Optional[Sample] = None

    # --- events from the iperf3 child -------------------------------------------------------------

    def on_test_started(self, now: float) -> None:
        """A new test is up: it is given two intervals to print its first line before silence counts."""
        self.test_open, self.origin, self.seen, self.gap, self.short = True, None, set(), [], None
        self.test_last, self.test_lost = None, 0
        until = now + 2 * self.interval + self.grace
        self.pending_until = max(self.pending_until or until, until)

    def on_test_ended(self, now: float, clean: bool, lost: Optional[int] = None) -> list[Sample]:
        """The test is over: `clean` when iperf3 printed its summary. `lost`, what the sender sent less what
        arrived (the summary's two lines), settles the slots since the test's last traffic as traffic coming
        back would: a hold over the test's end lost nothing and is taken back; a blackhole stands."""
        if self.test_open and clean and lost is not None and self.gap:
            out, _, left = self._settle(0, lost - self.test_lost)
            self.short = None
            if left > 0:  # more was lost than those slots hold: the outage went on until the summary
                out += self._outage_until(now)
        else:
            out = self._close_gap()
            if self.test_open and clean and self._in_outage():
                out += self._outage_until(now)  # the outage held the results exchange up: it lasted until now
        if self.test_open:
            self.pending_until = now + CONNECT_BOUND if clean else None
            self.silence_counts = self.silence_counts and not clean
        self.test_open, self.origin = False, None
        return out

    def on_attempt(self, now: float) -> None:
        """The initiator starts iperf3 again. After an excuse, the slots until now were not measured; from
        here the attempt must make progress, or its silence is an outage (a blackhole hangs its connect)."""
        if not self.excused:
            return  # a boundary or an outage goes on as it was
        self.excused = False
        self._skip_until(now + 1e-9)
        self.pending_until = now + CONNECT_BOUND

    def on_connected(self, now: float) -> None:
        """The next test's control connection is up (the peer answered): its first line may take the rest of
        the setup and an interval. Changes nothing once silence counts (the outage goes on until data)."""
        if self.silence_counts and not self.excused and self.back is None:
            self.back = now
        if self.pending_until is not None and not self.test_open:
            until = now + SETUP_BOUND + self.interval + self.grace
            self.pending_until = max(self.pending_until, until)

    def on_out_of_order(self, count: int) -> list[Sample]:
        """The test's count of out-of-order and duplicate datagrams, stored with its last sample."""
        if self.test_last is None:
            return []
        self.test_last = replace(self.test_last, out_of_order=count)
        return [self._emit(self.test_last)]

    def on_failure(self, now: float, network: bool) -> list[Sample]:
        """iperf3 exited with an error: silence from the last point is an outage if the network failed,
        or not measured if it did not (configuration error, refused connection, the probe's backoff)."""
        out = self.on_test_ended(now, clean=False)
        if network:
            self.back = None  # the path failed again
        self.pending_until, self.excused, self.silence_counts = None, not network, network
        return out

    def on_busy(self, now: float) -> list[Sample]:
        """The edge's own listener still serves the edge's previous test. After a network failure that is
        the stale test the failure left behind (its sender never saw the end): the outage goes on. Else it
        is a test boundary, or a listener the probe left busy: not measured."""
        if self.silence_counts and not self.excused:
            return self.on_test_ended(now, clean=False)
        return self.on_failure(now, network=False)

    def on_interval(self, iv: Interval, now: float) -> list[Sample]:
        if not self.test_open:  # a line without a start line seen (e.g. json start lost): begin here
            self.on_test_started(now)
        key = (iv.start, iv.end)
        length = iv.end - iv.start
        if key in self.seen or length < PARTIAL_FRACTION * self.interval:
            return []  # iperf3's repeated last line, or a partial final interval
        self.seen.add(key)
        out: list[Sample] = []
        if self.origin is None:
            # lines arrive at the interval's end (--forceflush / json-stream); never overlap what was written
            self.origin = max(now - iv.end, self.cursor - iv.start)
            if self.silence_counts:  # the outage lasted until the path was back (the connect), or this test
                out = self._outage_until(min(self.origin - iv.start, self.back or self.origin))
            self.excused = self.silence_counts = False
            self.back = None
        self.pending_until = None
        if self.test_duration is not None and iv.end >= self.test_duration - self.interval - 1e-6:
            # the test's end is near: its last line, the results exchange (3.12 prints the last line only
            # after it) and its summary come within an interval and SETUP_BOUND, unless the path failed
            self.pending_until = now + self.interval + SETUP_BOUND + self.grace
        time = self.origin + iv.end
        if time < self.cursor + self.interval / 2:
            # iperf3 stalled and silence was written for this slot already: re-align after it
            if iv.packets <= 0:
                return out
            if self._is_last(iv):
                # 3.12's last line, printed after a results exchange that an outage held up: it tells
                # what arrived before the silence, not that traffic came back; the summary settles
                self.test_lost += iv.lost
                return out
            self.origin += self.cursor + length - time
            time = self.cursor + length
        self.cursor = time
        if iv.packets <= 0:
            self.gap.append(_GapSlot(time, self._expected(length)))  # held: judged by tick()
            return out
        self.test_lost += iv.lost
        settled, packets, lost = self._settle(iv.packets, iv.lost)
        out += settled
        expected = self.packets_per_second * length
        loss_pct = 100.0 * lost / packets if packets > 0 and lost > 0 else 0.0
        bitrate = 8 * iv.bytes / length  # from the integers, not iperf3's 3-digit text
        sample = self._emit(Sample(self.wall(time), bitrate, iv.jitter_ms, packets, lost, loss_pct, 1))
        stopping = lost <= 0 and iv.packets < OUTAGE_FRACTION * expected
        self.short = (sample, round(expected)) if stopping else None
        self.test_last = sample
        return out + [sample]

    def _is_last(self, iv: Interval) -> bool:
        return self.test_duration is not None and iv.end >= self.test_duration - self.interval / 2

    # --- the clock ----------------------------------------------------------------------------------

    def tick(self, now: float) -> list[Sample]:
        """Outage samples for every slot that ended more than an interval ago without traffic."""
        limit = now - self.interval - self.grace
        out = [self._write_gap_slot(slot) for slot in self.gap if slot.written is None and slot.time <= limit]
        if self.excused:
            self._skip_until(limit)
            return out
        if self.pending_until is not None:
            if now < self.pending_until:
                return out
            self.pending_until = None
        self.silence_counts = True
        return out + self._silence_until(limit)

    def _skip_until(self, limit: float) -> None:
        """The whole slots from the cursor to `limit` were not measured: no point."""
        while self.cursor + self.interval <= limit:
            self.cursor += self.interval

    def _silence_until(self, limit: float) -> list[Sample]:
        """Outage samples for the whole slots from the cursor to `limit`."""
        out = []
        while self.cursor + self.interval <= limit + 1e-9:
            self.cursor += self.interval
            slot = _GapSlot(self.cursor, self._expected(self.interval))
            if self.test_open:
                self.gap.append(slot)  # iperf3 may still report this slot's loss: keep it to settle
            out.append(self._write_gap_slot(slot))
        return out

    def _outage_until(self, start: float) -> list[Sample]:
        """An outage lasted until a test that starts at `start`: its whole slots, and the rest, shorter than
        a slot, added to the last outage point (written again) or, if there is none, a point of its own when
        it is half an interval or more; one point per interval, counted to the test's start."""
        out = self._silence_until(start)
        self.gap = []  # before the test: it will never report these slots
        rest = start - self.cursor
        tail = self.last_outage if self._in_outage() else None
        if rest <= 1e-9 or (tail is None and rest < self.interval / 2):
            return out
        missed = self._expected(rest)
        if tail is not None:
            written = tail.written
            out.append(
                self._emit(replace(written, packets=written.packets + missed, lost=written.lost + missed))
            )
        else:
            out.append(self._emit(_outage(self.wall(start), missed)))
        self.cursor = start
        return out

    # --- accounting ---------------------------------------------------------------------------------

    def _expected(self, length: float) -> int:
        """What the sender should have sent in `length` seconds; the fraction is carried, not rounded."""
        exact = self.packets_per_second * length + self.carry
        whole = int(exact + 1e-9)  # 50 * 0.3 is 14.999999999999998
        self.carry = exact - whole
        return whole

    def _write_gap_slot(self, slot: _GapSlot) -> Sample:
        slot.written = self._emit(_outage(self.wall(slot.time), slot.expected))
        self.last_outage = slot
        return slot.written

    def _settle(self, packets: int, lost: int) -> tuple[list[Sample], int, int]:
        """Traffic is back in the test: iperf3's first interval covers the whole gap (its `packets` and
        `lost` include the gap's). The gap's slots get their share of the loss, in order; slots that lost
        nothing were a hold. Returns the gap's (re)written samples and what is left for this interval."""
        out: list[Sample] = []
        remaining = max(lost, 0)
        for slot in self.gap:
            share = min(slot.expected, remaining)
            remaining -= share
            time = slot.written.time if slot.written is not None else self.wall(slot.time)
            sample = _outage(time, share) if share else _delayed(time)
            if sample != slot.written:
                out.append(self._emit(sample) if slot.written is None else sample)
        taken = max(lost, 0) - remaining
        self.gap = []
        return out, max(packets - taken, 0), lost - taken

    def _close_gap(self) -> list[Sample]:
        """The test ended inside an outage: nobody will report the gap; what was written stands, held slots
        are written, and the interval where traffic stopped gets the datagrams it missed as lost."""
        out = [self._write_gap_slot(slot) for slot in self.gap if slot.written is None]
        if self.gap and self.short is not None:
            sample, expected = self.short
            missed = max(expected - sample.packets, 0)
            if missed:
                lost = sample.lost + missed
                out.append(replace(sample, packets=expected, lost=lost, loss_pct=100.0 * lost / expected))
        self.gap, self.short = [], None
        return out

    def _in_outage(self) -> bool:
        """The last slot accounted for was written as an outage."""
        return self.last_outage is not None and self.last_outage.time == self.cursor

    def _emit(self, sample: Sample) -> Sample:
        self.last_sample = sample
        return sample

    @property
    def suspect(self) -> bool:
        return self.short is not None

    @property
    def measuring(self) -> bool:
        return self.last_sample is not None and self.last_sample.up == 1 and not self.suspect
