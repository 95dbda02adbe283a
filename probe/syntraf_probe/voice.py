"""The group's echo in the supervisor: one exchange per pair of hosts. Of a pair, the host that initiates
tests with the other requests (of two, the lower uid: `requester_of`), the other answers; the requester
writes, per interval, one `syntraf_voice` point for each of the pair's edges, both directions: RTT, echo
loss, the DSCP seen in the edge's direction, and the MOS of the edge from its receiver's last iperf3
interval (its own, or the one the reflector copied into its replies) (docs/metrics.md)."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Callable, Optional

from .config import Config, ConfigError, Edge
from .echo import EchoSocket, EchoStats, MacKey, Reflector, Requester, echo_key, user_field, users_hash
from .emodel import CODECS, mos, r_factor
from .iperf3 import read_password
from .lineproto import edge_tags, point, series
from .meter import Sample
from .schedule import running

log = logging.getLogger("syntraf_probe.voice")

TIMEOUT_NS = 1_000_000_000  # a reply later than this is a lost echo
# The socket is read on a timer, not per datagram: a wake-up costs the supervisor more than the datagrams it
# reads (bench/echo_load.py: 10 reads a second cost 0.4 % of a core more than 2). Round trips stay exact
# (kernel arrival times; the time a request waited is subtracted, echo.py), but that wait counts against
# TIMEOUT_NS: with at most 250 ms of it, round trips up to 750 ms are measured.
TICK_MAX_NS = 250_000_000
QUEUED_MAX = 64  # datagrams between reads, at most: the socket's buffer holds a few hundred
MIN_INTERVAL = 1.0  # s
# round trips a point is made of, at least: fewer make a min/mean/max of one or two samples and a remark
# share in steps of 50 %; a point also costs more CPU than the round trips it summarises (bench/echo_load.py)
MIN_REQUESTS = 10


def echo_interval(group_interval: float, rate: float) -> float:
    """The seconds a point covers: the group's interval, stretched to hold MIN_REQUESTS requests."""
    return max(MIN_INTERVAL, group_interval, MIN_REQUESTS / rate)


def tick_ns(rate: float, peers: int) -> int:
    """How often the socket is read: rarely, but before QUEUED_MAX datagrams queue from `peers` (one
    exchange each: those requested reply, those answered request), each sending `rate` a second."""
    return min(TICK_MAX_NS, int(1e9 * QUEUED_MAX / (rate * max(1, peers))))


def requester_of(edges: list[Edge]) -> str:
    """Who requests for a pair of hosts (the group's edges between them): a host that initiates tests with
    the other, so can reach it; of two (each initiates an edge, the usual full mesh), the lower uid, as
    both ends decide alike. One exchange then serves both edges: a round trip is the same either way."""
    return min(edge.initiator for edge in edges)


def mos_inputs(sample: Optional[Sample]) -> Optional[tuple[float, float]]:
    """The jitter (ms) and loss (%) a MOS is scored with: an iperf3 interval that was up."""
    if sample is None or sample.up != 1 or sample.jitter_ms is None:
        return None
    return sample.jitter_ms, float(sample.loss_pct)


def reflector_keys(users_path: str) -> dict[str, MacKey]:
    """user -> echo key, from iperf3's users file (`user,sha256hex` lines; # comments)."""
    try:
        lines = Path(users_path).read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise ConfigError(
            f"auth.authorized_users_path: {users_path}: cannot read: {error.strerror}"
        ) from None
    keys = {}
    for text in lines:
        user, _, digest = text.strip().partition(",")
        if user and digest and not user.startswith("#"):
            keys[user] = echo_key(digest)
    return keys


class Voice:
    """Needs the config's `echo` and `auth` (the echo is authenticated with the iperf3 credentials)."""

    def __init__(
        self,
        config: Config,
        emit: Callable[[list[str]], None],
        last_sample: Callable[[Edge], Optional[Sample]],
    ) -> None:
        if config.echo is None or config.auth is None:
            raise ConfigError("echo: needs auth (requests are authenticated with the iperf3 credentials)")
        self.config, self.emit, self.last_sample = config, emit, last_sample
        self.codec = CODECS[config.echo.codec]
        self.interval = echo_interval(min(edge.interval for edge in config.edges), config.echo.rate)
        dscp = config.edges[0].dscp  # one profile per group: its edges share the DSCP
        listens = any(edge.listener == config.host for edge in config.edges)  # else it has no users file
        keys = reflector_keys(config.auth.authorized_users_path) if listens else {}
        host = config.host
        # the edge each requester (a user: a host uid) sends this host: its iperf3 interval goes in replies
        self.received_from = {user_field(edge.src): edge for edge in config.edges if edge.dst == host}
        # answers at twice the rate a requester sends: a peer's restart or a late burst is still answered
        reflector = Reflector(keys, 2 * config.echo.rate, self.heard)
        self.socket = EchoSocket(config.address, config.echo.port, dscp, reflector)
        pairs: dict[str, list[Edge]] = {}  # peer host -> the edges between it and this host
        for edge in config.edges:
            pairs.setdefault(edge.dst if edge.src == host else edge.src, []).append(edge)
        self.edges_of: dict[tuple[str, int], list[Edge]] = {}  # the peers requested, by echo address
        self.series: dict[str, str] = {}  # edge name -> its points' measurement and tags, escaped once
        for edges in pairs.values():
            if requester_of(edges) == host:
                initiated = next(edge for edge in edges if edge.initiator == host)
                peer = (initiated.connect_address, config.echo.port)
                self.edges_of[peer] = edges
                self.series.update((edge.name, series("syntraf_voice", edge_tags(edge))) for edge in edges)
                password = read_password(
                    str(Path(config.auth.public_keys_dir) / f"{initiated.listener}.password")
                )
                key = echo_key(users_hash(config.auth.username, password))
                self.socket.requesters[peer] = Requester(
                    config.auth.username, key, dscp, time.time_ns() // 1000, TIMEOUT_NS
                )
        self.sending = list(self.edges_of)  # the peers requested now: all, or a rotating group's current
        self.tick_ns = tick_ns(config.echo.rate, len(pairs))
        self.epochs: Optional[tuple[int, range]] = None  # (current, answered) when last followed

    def follow_schedule(self, now: float) -> None:
        """A rotating group (schedule.py): request only from the peers whose edges run in the current
        epoch; answer the peers of every epoch within the tolerated clock skew of `now` (Unix time), since
        a peer switches when its own clock says so. Users are host uids (syntraf_ctl.auth.scope)."""
        schedule = self.config.schedule
        if schedule is None:
            return
        margin = self.config.auth.time_skew_threshold
        epochs = (schedule.epoch(now), range(schedule.epoch(now - margin), schedule.epoch(now + margin) + 1))
        if epochs == self.epochs:
            return
        self.epochs = epochs
        host = self.config.host
        self.sending = [peer for peer, edges in self.edges_of.items() if running(edges, schedule, host, now)]
        peers = {member for epoch in epochs[1] for pair in schedule.pairs_of(host, epoch) for member in pair}
        self.socket.reflector.answer_only(peers - {host})

    async def run(self) -> None:
        """Send requests at the configured rate, read the socket every tick, and write each interval once
        its replies had their time. One timer for the group, however many peers."""
        period_ns = int(1e9 / self.config.echo.rate)
        step_ns = int(self.interval * 1e9)
        window_start = time.monotonic_ns()
        next_send = window_start
        try:
            while True:
                self.socket.drain()
                self.follow_schedule(time.time())
                now = time.monotonic_ns()
                if now >= next_send:
                    self.socket.send_requests(self.sending)
                    next_send += period_ns
                if now >= window_start + step_ns + TIMEOUT_NS:
                    self.emit(self.lines(window_start, window_start + step_ns))
                    window_start += step_ns
                wake = min(next_send, window_start + step_ns + TIMEOUT_NS, now + self.tick_ns)
                await asyncio.sleep(max(0, wake - now) / 1e9)
        finally:
            self.socket.close()

    def lines(self, start_ns: int, end_ns: int) -> list[str]:
        """The points of [start, end) (monotonic): of the edges that ran in it, with peers requested in it."""
        time_wall = (end_ns - time.monotonic_ns()) / 1e9 + time.time()
        # a rotating group may run a pair's two edges in different epochs, and an interval span two (an
        # epoch is at least 10 s and 3 group intervals, syntraf-ctl; an interval at most the larger):
        # the edges that ran at its start or its end
        times = (time_wall - (end_ns - start_ns) / 1e9, time_wall - 1e-3)
        out = []
        for peer, requester in self.socket.requesters.items():
            stats = requester.stats(start_ns, end_ns)
            if stats.sent == 0:
                continue  # not requested in the interval: a rotating group's peer of another epoch
            edges = self.edges_of[peer]
            ran = {
                edge.name
                for at in times
                for edge in running(edges, self.config.schedule, self.config.host, at)
            }
            for edge in edges:
                if edge.name in ran:
                    out.append(point(self.series[edge.name], self.fields(edge, stats), time_wall))
        return out

    def fields(self, edge: Edge, stats: EchoStats) -> dict:
        here = edge.dst == self.config.host  # the replies travel in the edge's direction, and it receives
        rtt = stats.rtt_ms
        fields = {
            "echo_sent": stats.sent,
            "echo_lost": stats.lost,
            "rtt_min_ms": min(rtt) if rtt else None,
            "rtt_mean_ms": sum(rtt) / len(rtt) if rtt else None,
            "rtt_max_ms": max(rtt) if rtt else None,
            "rtt_p95_ms": stats.rtt_p95_ms,
            "rtt_variation_ms": stats.rtt_variation_ms,
            "dscp_seen": stats.dscp_here if here else stats.dscp_there,
            "remarked_pct": stats.remarked_here_pct if here else stats.remarked_there_pct,
        }
        # the receiver's last iperf3 interval: this host's, or the peer's as its latest reply copied it
        inputs = mos_inputs(self.last_sample(edge)) if here else stats.heard
        if rtt and inputs is not None:
            r = r_factor(fields["rtt_mean_ms"], *inputs, self.codec)
            fields["r_factor"], fields["mos"] = round(r, 2), round(mos(r), 3)
            # the iperf3 interval it was scored with: a MOS can be checked against its inputs
            fields["mos_jitter_ms"], fields["mos_loss_pct"] = inputs
        return fields

    def heard(self, user: bytes) -> Optional[tuple[float, float]]:
        """What a reply to `user` copies: the MOS inputs of this host's last iperf3 interval of its edge."""
        edge = self.received_from.get(user)
        return mos_inputs(self.last_sample(edge)) if edge is not None else None
