"""Loss and outage accounting with synthetic intervals and an injected clock (no network, no iperf3)."""

from __future__ import annotations

import pytest
from syntraf_probe.meter import CONNECT_BOUND, SETUP_BOUND, ReceiverMeter, restart_bound
from syntraf_probe.parse import Interval


def iv(start, packets, lost, length=1.0):
    return Interval(start, start + length, packets * 172.0, packets * 1376.0 / length, 0.01, packets, lost)


def meter(now=0.0, interval=1.0, pps=50, duration=None, wall=None):
    return ReceiverMeter(interval, pps, now, restart_bound(interval, 3.0), duration, wall)


def run_test(m, start, lines, step=1.0):
    """Start a test at `start` and feed `lines` of (packets, lost), one per `step`, ticking in between."""
    m.on_test_started(start)
    out = []
    for k, (packets, lost) in enumerate(lines):
        now = start + (k + 1) * step
        out += m.tick(now - 0.01)
        out += m.on_interval(iv(k * step, packets, lost, step), now)
    return out


def outages(samples):
    return [s for s in samples if s.up == 0]


# --- the basics ------------------------------------------------------------------------------------


def test_repeated_and_partial_lines_are_dropped():
    m = meter()
    m.on_test_started(0.0)
    assert len(m.on_interval(iv(0, 50, 0), 1.0)) == 1
    assert m.on_interval(iv(0, 50, 0), 1.01) == []  # 3.12 repeats the last line before an error exit
    assert m.on_interval(iv(1, 1, 0, length=0.01), 1.02) == []  # partial final interval


def test_bitrate_comes_from_the_byte_count_not_the_rounded_text():
    m = meter()
    m.on_test_started(0.0)
    line = Interval(0.0, 1.0, 8600.0, 68_800.0 * 1.004, 0.01, 50, 0)  # text said "69.1 Kbits/sec"
    assert m.on_interval(line, 1.0)[0].bitrate_bps == 68_800.0


def test_outage_within_a_test_is_not_counted_twice():
    m = meter()
    samples = run_test(m, 0.0, [(50, 0), (20, 0), (0, 0)])  # the outage starts: fewer packets, none lost
    assert m.suspect and not m.measuring
    samples += m.tick(4.3)  # the 0/0 slot (2-3) is written once it is an interval late
    samples += m.tick(5.3)  # iperf3 silent for slot 3-4: the ticker writes it
    samples += m.on_interval(iv(4, 150, 130), 5.4)  # traffic returns: the whole gap as loss
    assert [s.up for s in samples] == [1, 1, 0, 0, 1]
    # network dropped 30 (rest of second 2) + 50 + 50 + 30 = 130 = what iperf3 finally reported
    assert sum(s.lost for s in samples) == 130
    assert samples[-1].lost == 30 and samples[-1].packets == 50
    times = [s.time for s in samples]
    assert times == sorted(times) and len(set(times)) == len(times)


def test_silence_without_a_test_is_an_outage_per_interval_and_stands():
    m = meter(now=100.0)
    m.on_failure(100.0, network=True)  # the first test could not connect: the network
    assert m.tick(101.5) == []
    samples = m.tick(102.3)  # slot 100-101 ended more than an interval ago: within two intervals
    assert [(s.time, s.up, s.lost, s.packets) for s in samples] == [(101.0, 0, 50, 50)]
    assert [s.time for s in m.tick(105.3)] == [102.0, 103.0, 104.0]
    m.on_test_started(105.5)  # a new test never reports the gap: nothing is owed
    *gap, first = m.on_interval(iv(0, 50, 0), 106.5)
    assert first.lost == 0 and first.time == pytest.approx(106.5)
    # the outage lasted until the test started: its last 1.5 s are counted too, one point per interval
    assert [(s.time, s.lost) for s in gap] == [(105.0, 50), (105.0, 75)]  # the second replaces the first


def test_a_test_starting_after_an_outage_is_given_two_intervals_before_silence_counts():
    m = meter()
    m.on_failure(0.0, network=True)
    m.on_test_started(0.2)
    assert m.tick(2.0) == []
    assert len(m.tick(2.6)) == 1


def test_consecutive_tests_do_not_overlap():
    m = meter()
    last = run_test(m, 0.0, [(50, 0)])[0]
    m.on_test_ended(1.0, clean=True)
    m.on_test_started(1.0)
    first = m.on_interval(iv(0, 50, 0), 1.3)[0]  # a line that arrived early relative to the last point
    assert first.time >= last.time + 1.0


# --- review 1: clean boundaries and startup are not outages ----------------------------------------


def test_a_clean_test_boundary_is_not_an_outage():
    """Review case: 5 intervals, a clean end, ticks to 7.1 s, the next test's first interval at 7.1 s."""
    m = meter()
    samples = run_test(m, 0.0, [(50, 0)] * 5)
    samples += m.on_test_ended(5.05, clean=True)
    for k in range(1, 22):
        samples += m.tick(5.05 + k * 0.1)
        if k == 5:
            m.on_connected(5.55)
    m.on_test_started(7.1)
    samples += m.on_interval(iv(0, 50, 0), 7.1)
    assert outages(samples) == []
    assert sum(s.lost for s in samples) == 0 and len(samples) == 6


def boundary(m, end, rtt, interval, lines=5):
    """A clean end at `end`, then the next test as iperf3 3.12 (line-buffered) runs it on a path of `rtt`:
    the control connection answered after 2 RTT, the data stream after 2 more, its first line an RTT and an
    interval later; the meter is ticked every quarter interval. Returns the samples and the next end."""
    out = m.on_test_ended(end, clean=True)
    connected = end + 0.05 + 2 * rtt
    started = connected + 2 * rtt
    first = started + rtt + interval
    now = end
    while now + interval / 4 < first:
        now += interval / 4
        if now - interval / 4 < connected <= now:
            m.on_connected(connected)
        out += m.tick(now)
    m.on_test_started(started)
    for k in range(lines):
        out += m.tick(first + (k - 0.01) * interval)
        out += m.on_interval(iv(k * interval, 5, 0, interval), first + k * interval)
    return out, first + (lines - 1) * interval


@pytest.mark.parametrize("interval", [1.0, 0.2, 0.1])
@pytest.mark.parametrize("rtt", [0.0, 0.04, 0.15, 0.3, 0.5])
def test_boundaries_at_any_rtt_and_interval_write_no_outage(interval, rtt):
    """The review's table and the WAN lab's paths: a boundary of several intervals writes nothing for it."""
    m = meter(interval=interval)
    samples = run_test(m, 0.3 * interval, [(5, 0)] * 5, step=interval)
    end = 5.3 * interval
    for _ in range(4):
        more, end = boundary(m, end + 0.01, rtt, interval)
        samples += more
    assert outages(samples) == [] and len(samples) == 25


def test_a_blackhole_at_a_test_boundary_is_an_outage_within_two_intervals():
    """WAN lab CI: a 6 s blackhole that began as a test ended was taken for the next test's setup (not
    measured for up to connect timeout + 3 s + an interval): 2 up=0 points, 100 lost for 302 dropped. The
    next test that does not reach its peer within CONNECT_BOUND makes the slots since the last point an
    outage, written as an outage inside a test would be."""
    m = meter()
    run_test(m, 0.0, [(50, 0)] * 5)
    m.on_test_ended(5.05, clean=True)  # the blackhole begins: the next test's SYNs are lost
    assert m.tick(5.05 + CONNECT_BOUND - 0.01) == []
    first = m.tick(5.05 + CONNECT_BOUND + 0.01)
    assert [(s.time, s.up, s.lost) for s in first] == [(6.0, 0, 50)]  # one interval after the last point
    samples = first
    for k in range(1, 15):
        samples += m.tick(7.56 + k * 0.25)
    m.on_connected(11.3)  # the path healed at 11 s: a SYN retry connects
    m.on_test_started(11.4)
    samples += m.on_interval(iv(0, 50, 0), 12.4)
    final = {round(s.time, 3): s for s in samples}
    assert [t for t, s in final.items() if s.up == 0] == [6.0, 7.0, 8.0, 9.0, 10.0, 11.0]
    # counted once, until the path was back: the next test's control connection at 11.3 s
    assert sum(s.lost for s in final.values()) == 315


@pytest.mark.parametrize("lost", [None, 300])  # the summary's sent - received, when its lines give it
def test_a_blackhole_over_a_tests_end_is_an_outage_while_the_summary_is_blocked(lost):
    """WAN lab: a 6 s blackhole from second 8 of a 10 s test. iperf3 printed 0/0 for seconds 8-10, then
    waited for the results exchange across the blackhole; the meter waited for the summary for 7.25 s, so
    seconds 10-14 were not measured: 2 up=0 points and 100 lost for 303 dropped (the sender sends until the
    end of the test reaches it)."""
    m = meter(duration=10)
    samples = run_test(m, 0.0, [(50, 0)] * 8 + [(0, 0)] * 2)
    for k in range(1, 17):
        samples += m.tick(10.0 + k * 0.25)  # to 14 s: the blackhole ends
    final = {round(s.time, 3): s for s in samples}
    assert [t for t, s in final.items() if s.up == 0] == [9.0, 10.0, 11.0, 12.0]  # written by 14 s
    samples += m.on_test_ended(14.2, clean=True, lost=lost)  # the summary, once the path is back
    m.on_connected(14.4)
    m.on_test_started(14.5)
    samples += m.on_interval(iv(0, 50, 0), 15.5)
    final = {round(s.time, 3): s for s in samples}
    assert [t for t, s in final.items() if s.up == 0] == [9.0, 10.0, 11.0, 12.0, 13.0, 14.0]
    # the sender sent until the end of the test reached it after the heal: 300 dropped, 310 counted
    assert sum(s.lost for s in final.values()) == 310 and final[15.5].up == 1


def test_a_hold_over_a_tests_end_is_taken_back_by_the_summary():
    """WAN lab (0.2 s intervals, a 1.5 s hold at a test's end): the summary came after the short wait
    for it, and the slots written meanwhile stood: 8 up=0, 81 lost, truth 0. The summary says what the
    sender sent and what arrived: nothing was lost, so those slots were a hold."""
    m = meter(interval=0.2, duration=2)
    samples = run_test(m, 0.0, [(10, 0)] * 6 + [(0, 0)] * 4, step=0.2)  # held from 1.2 s
    for k in range(1, 13):
        samples += m.tick(2.0 + k * 0.25)  # the results exchange is held too: to 5 s
    assert outages(samples)  # written while nothing was known
    samples += m.on_test_ended(5.1, clean=True, lost=0)  # sender 100, received 100
    final = {round(s.time, 3): s for s in samples}
    assert outages(final.values()) == [] and sum(s.lost for s in final.values()) == 0


def test_a_next_test_that_connects_but_never_starts_is_an_outage_from_the_last_point():
    m = meter()
    run_test(m, 0.0, [(50, 0)] * 3)
    m.on_test_ended(3.0, clean=True)
    m.on_connected(3.5)  # then the path fails during the parameters exchange or the UDP handshake
    bound = 3.5 + SETUP_BOUND + 1.0 + 0.25
    assert m.tick(bound - 0.01) == []
    assert [s.time for s in m.tick(bound + 0.01)] == [4.0, 5.0]


def test_a_restart_that_fails_on_the_network_is_an_outage_at_once():
    m = meter()
    run_test(m, 0.0, [(50, 0)] * 3)
    m.on_test_ended(3.0, clean=True)
    m.on_failure(6.0, network=True)  # connect timed out
    assert [s.time for s in outages(m.tick(6.0))] == [4.0]


def test_the_last_interval_printed_after_the_results_exchange_is_waited_for():
    """3.12 prints a test's last interval only after the results exchange (0.76 s late at 300 ms RTT)."""
    m = meter(interval=0.1, duration=1)
    samples = run_test(m, 0.0, [(5, 0)] * 9, step=0.1)
    for k in range(1, 10):
        samples += m.tick(0.9 + k * 0.1)  # 0.9 s of silence: the summary has not come yet
    samples += m.on_interval(iv(0.9, 5, 0, 0.1), 1.76)
    samples += m.on_test_ended(1.77, clean=True)
    assert outages(samples) == [] and len(samples) == 10


def test_startup_is_not_an_outage():
    m = meter(now=0.0)
    for k in range(1, 20):
        assert m.tick(k * 0.1) == []  # a 300 ms RTT setup, then the first interval
    m.on_test_started(2.0)
    assert [s.up for s in m.on_interval(iv(0, 50, 0), 2.0)] == [1]


# --- review 2: outage points are taken back when nothing was lost ----------------------------------


def test_a_hold_with_no_loss_stores_no_loss():
    """Review case: intervals (50,0),(15,0),(0,0),(135,0),(50,0) -> Σlost 0, Σpackets 250."""
    m = meter()
    samples = run_test(m, 0.0, [(50, 0), (15, 0), (0, 0), (135, 0), (50, 0)])
    assert outages(samples) == []
    assert sum(s.lost for s in samples) == 0 and sum(s.packets for s in samples) == 250


def test_a_long_hold_rewrites_the_outage_points_it_wrote():
    m = meter()
    samples = run_test(m, 0.0, [(50, 0), (15, 0), (0, 0), (0, 0)])
    samples += m.tick(5.3)  # slots 2-3 and 3-4 were written as outage
    assert len(outages(samples)) == 2
    written = {s.time for s in outages(samples)}
    samples += m.on_interval(iv(4, 185, 0), 5.4)  # everything held arrives: nothing was lost
    final = {s.time: s for s in samples}  # the database keeps the last point of a series and time
    assert written <= set(final) and all(final[t].up == 1 for t in written)
    assert sum(s.lost for s in final.values()) == 0 and sum(s.packets for s in final.values()) == 250


def test_a_hold_with_some_loss_keeps_only_the_real_loss():
    m = meter(interval=0.1)
    samples = run_test(m, 0.0, [(5, 0)] + [(0, 0)] * 3 + [(20, 2)], step=0.1)
    final = {s.time: s for s in samples}
    assert sum(s.lost for s in final.values()) == 2 and sum(s.packets for s in final.values()) == 25


# --- review 4: slots are on the monotonic clock ------------------------------------------------------


@pytest.mark.parametrize("step", [10.0, -10.0])
def test_a_wall_clock_step_moves_no_slot(step):
    offset = [1000.0]
    m = meter(wall=lambda mono: mono + offset[0])
    m.on_test_started(0.0)
    samples = []
    for k in range(6):
        if k == 3:
            offset[0] += step
        for q in range(4):
            samples += m.tick(k + q * 0.25)
        samples += m.on_interval(iv(k, 50, 0), k + 1.0)
    assert outages(samples) == []
    assert [s.time for s in samples[2:4]] == [1003.0, 1000.0 + step + 4.0]


def test_silence_after_a_backward_step_is_still_an_outage():
    offset = [1000.0]
    m = meter(wall=lambda mono: mono + offset[0])
    run_test(m, 0.0, [(50, 0)] * 3)
    offset[0] -= 10.0
    m.on_failure(3.1, network=True)
    written = []
    for k in range(1, 30):
        written += m.tick(3.1 + k * 0.25)
    assert len(outages(written)) == 6  # 6 s of real silence: 4..9 s


# --- review 8: outage counts --------------------------------------------------------------------------


def test_outage_counts_carry_the_fraction():
    m = meter(pps=390.625)
    m.on_failure(0.0, network=True)
    samples = m.tick(8 * 1.0 + 1.3)
    assert len(samples) == 8 and sum(s.lost for s in samples) == 3125  # 8 x 390.625, not 8 x 391


def test_a_blackhole_that_ends_the_test_is_undercounted_by_at_most_one_interval():
    """Review: a 6 s blackhole, 300 dropped, 250 stored. The interval where traffic stopped now gets the
    datagrams it missed, and the stretch before the next test is counted to its start: exact here."""
    m = meter()
    samples = run_test(m, 0.0, [(50, 0), (50, 0), (20, 0), (0, 0)])  # blackhole at 2.4 s
    samples += m.tick(4.4)
    samples += m.on_failure(4.4, network=True)  # --rcv-timeout two seconds after the last datagram
    for k in range(1, 20):
        samples += m.tick(4.4 + k * 0.25)
    m.on_test_started(8.4)  # the blackhole ends at 8.4 s; the next test starts at once
    samples += m.on_interval(iv(0, 50, 0), 9.4)
    final = {s.time: s for s in samples}
    truth = 300
    assert sum(s.lost for s in final.values()) == truth


# --- review 10: what is not a network failure writes no outage --------------------------------------


def test_a_refused_or_misconfigured_test_writes_no_outage():
    m = meter()
    run_test(m, 0.0, [(50, 0)] * 2)
    m.on_failure(2.1, network=False)  # connection refused: the peer's probe is not listening
    written = []
    for k in range(1, 40):
        written += m.tick(2.1 + k * 0.25)
    assert written == []
    m.on_test_started(12.0)
    first = m.on_interval(iv(0, 50, 0), 13.0)
    assert [(s.up, s.lost) for s in first] == [(1, 0)]


def test_a_listener_still_busy_with_the_test_an_outage_left_does_not_end_the_outage():
    """WAN lab: a 6 s blackhole outlived --rcv-timeout; the listener across the blackhole never saw that
    test end and answered "busy" after the heal, which excused the rest of the outage: 196 of 303 stored."""
    m = meter()
    samples = run_test(m, 0.0, [(50, 0)] * 2)
    samples += m.on_failure(2.1, network=True)  # the blackhole ended the test
    samples += m.on_busy(2.4)  # the next attempt: the listener still serves the stale test
    for k in range(1, 20):
        samples += m.tick(2.4 + k * 0.25)
    # the slots ending at 3, 4 and 5 s (each written an interval and a grace late); excused, none
    assert [(round(s.time, 3), s.lost) for s in outages(samples)] == [(3.0, 50), (4.0, 50), (5.0, 50)]


def test_a_busy_listener_after_a_clean_end_is_not_an_outage():
    m = meter()
    run_test(m, 0.0, [(50, 0)] * 2)
    m.on_test_ended(2.0, clean=True)
    written = m.on_busy(2.05)
    for k in range(1, 60):
        written += m.tick(2.05 + k * 0.25)
    assert written == []


@pytest.mark.parametrize("excuse", ["busy", "refused"])
@pytest.mark.parametrize("connects", [False, True])
def test_a_path_that_fails_while_the_edge_is_excused_is_an_outage_from_the_next_attempt(excuse, connects):
    """CI, WAN lab: a busy listener at a boundary (or a refused connection) excused the edge; the blackhole
    that began then hung the next attempt's connect (or, once connected, its setup), and its silence was
    written as nothing at all. The slots before the attempt stay unmeasured; from the attempt on, its
    silence is judged like a boundary's and becomes an outage."""
    m = meter()
    run_test(m, 0.0, [(50, 0)] * 2)
    m.on_test_ended(2.0, clean=True)
    written = m.on_busy(2.05) if excuse == "busy" else m.on_failure(2.05, network=False)
    for k in range(1, 10):
        written += m.tick(2.05 + k * 0.25)
    assert written == []  # waiting for the listener: not measured
    m.on_attempt(4.6)  # the retry, into the blackhole
    if connects:
        m.on_connected(4.7)  # then the setup hangs
    for k in range(1, 30):
        written += m.tick(4.6 + k * 0.25)
    assert [(round(s.time, 3), s.lost) for s in outages(written)][:3] == [(5.0, 50), (6.0, 50), (7.0, 50)]


def test_an_attempt_after_a_busy_listener_that_connects_and_measures_writes_no_outage():
    m = meter()
    run_test(m, 0.0, [(50, 0)] * 2)
    m.on_test_ended(2.0, clean=True)
    written = m.on_busy(2.05)
    m.on_attempt(2.15)
    m.on_connected(2.2)
    m.on_test_started(2.3)
    for k in range(1, 8):
        written += m.tick(2.15 + k * 0.1)
    written += m.on_interval(iv(0, 50, 0), 3.35)
    assert outages(written) == [] and [s.up for s in written] == [1]


def test_out_of_order_count_is_stored_with_the_tests_last_sample():
    m = meter()
    samples = run_test(m, 0.0, [(50, 0), (50, 1)])
    again = m.on_out_of_order(3)
    assert len(again) == 1 and again[0].time == samples[-1].time and again[0].out_of_order == 3
    assert again[0].lost == samples[-1].lost


@pytest.mark.parametrize("restart,points", [(0.3, [(4.3, 1, 0)]), (0.7, [(3.7, 0, 35), (4.7, 1, 0)])])
def test_a_short_outage_between_two_tests_keeps_one_point_per_interval(restart, points):
    """A test failed on the network and the next one started within an interval: under half an interval
    the stretch is not worth a point of its own; from half an interval it gets one."""
    m = meter()
    run_test(m, 0.0, [(50, 0)] * 3)
    m.on_failure(3.0, network=True)
    m.on_test_started(3.0 + restart)
    samples = m.on_interval(iv(0, 50, 0), 4.0 + restart)
    assert [(round(s.time, 3), s.up, s.lost) for s in samples] == points


def test_the_rest_of_an_outage_joins_its_last_point_whatever_the_wall_clock_does():
    """The wall clock's offset from the monotonic one moves a little between two readings."""
    offset = [1000.0]

    def wall(mono: float) -> float:
        offset[0] += 1e-6
        return mono + offset[0]

    m = meter(wall=wall)
    m.on_failure(0.0, network=True)
    samples = m.tick(4.3)  # outage points at 1, 2 and 3 s
    m.on_test_started(3.3)
    samples += m.on_interval(iv(0, 50, 0), 4.3)
    times = sorted({round(s.time - 1000.0, 3) for s in samples})
    assert times == [1.0, 2.0, 3.0, 4.3]  # no point of its own for the 0.3 s before the test
    assert sum(s.lost for s in {round(s.time, 3): s for s in samples}.values()) == 165
