"""Known syntraf points for the store tests: ten minutes of one-second points on a three-host mesh, with
losses, holds (packets=0), outage points (up=0, loss_pct=100) and a late datagram counted back (lost=-1),
so that the mean of loss_pct and Σlost/Σpackets differ."""

from __future__ import annotations

import random
from dataclasses import dataclass

HOSTS = ("a", "b", "c")
SECONDS = 600


@dataclass(frozen=True)
class Point:
    src: str
    dst: str
    t_ms: int
    packets: int
    lost: int
    jitter_ms: float | None
    up: int

    @property
    def loss_pct(self) -> float:
        if not self.up:
            return 100.0
        return 100.0 * self.lost / self.packets if self.packets and self.lost > 0 else 0.0

    def line(self) -> str:
        tags = f"syntraf,group=g,src={self.src},dst={self.dst},dscp=46"
        fields = [
            f"packets={self.packets}i",
            f"lost={self.lost}i",
            f"loss_pct={self.loss_pct!r}",
            f"up={self.up}i",
            f"bitrate_bps={8 * 172 * (self.packets - max(self.lost, 0))!r}",
        ]
        if self.jitter_ms is not None:
            fields.append(f"jitter_ms={self.jitter_ms!r}")
        return f"{tags} {','.join(fields)} {self.t_ms}"


def points(end_s: int) -> list[Point]:
    """One point per edge per second over (end_s - SECONDS, end_s]."""
    rng = random.Random(20261127)
    result = []
    for src in HOSTS:
        for dst in HOSTS:
            if src == dst:
                continue
            for second in range(end_s - SECONDS + 1, end_s + 1):
                roll = rng.random()
                if roll < 0.02:  # outage
                    result.append(Point(src, dst, second * 1000, 50, 50, None, 0))
                elif roll < 0.04:  # a hold taken back: no packet, no loss
                    result.append(Point(src, dst, second * 1000, 0, 0, round(rng.uniform(1, 9), 3), 1))
                else:
                    lost = rng.choice((0, 0, 0, 1, 2, 7, -1))
                    result.append(Point(src, dst, second * 1000, 50, lost, round(rng.uniform(1, 9), 3), 1))
    return result


@dataclass(frozen=True)
class VoicePoint:
    """A syntraf_voice point (docs/metrics.md): the echo's round trip, MOS and DSCP remark share."""

    src: str
    dst: str
    t_ms: int
    rtt_mean_ms: float
    mos: float
    remarked_pct: float

    def line(self) -> str:
        fields = f"rtt_mean_ms={self.rtt_mean_ms!r},mos={self.mos!r},remarked_pct={self.remarked_pct!r}"
        return f"syntraf_voice,group=g,src={self.src},dst={self.dst},dscp=46 {fields} {self.t_ms}"


def voice_points(
    end_s: int, seconds: int = SECONDS, remarked: tuple[str, str] = ("b", "c")
) -> list[VoicePoint]:
    """One point per edge per second over (end_s - seconds, end_s]; only `remarked` has remarked packets."""
    rng = random.Random(20261128)
    return [
        VoicePoint(
            src,
            dst,
            second * 1000,
            round(rng.uniform(1, 90), 3),
            round(rng.uniform(1.5, 4.4), 3),
            100.0 if (src, dst) == remarked and rng.random() < 0.1 else 0.0,
        )
        for src in HOSTS
        for dst in HOSTS
        if src != dst
        for second in range(end_s - seconds + 1, end_s + 1)
    ]


def health_lines(end_s: int, revisions: dict[str, str]) -> list[str]:
    """Health points every 10 s of each host's probe, reporting `revisions[host]`."""
    return [
        f"syntraf_probe,host={host},group=g,revision={revision} edges_configured=4i,edges_measuring=4i,"
        f"edges_outage=0i,edges_config_error=0i,edges_not_measuring=0i,spool_points=0i,spool_bytes=0i,"
        f"dropped_points={index}i,write_errors=0i,spool_errors=0i,iperf3_restarts=0i {second * 1000}"
        for index, (host, revision) in enumerate(sorted(revisions.items()))
        for second in range(end_s - 110, end_s + 1, 10)
    ]


def loss_pct(selected: list[Point]) -> float:
    return 100.0 * sum(p.lost for p in selected) / sum(p.packets for p in selected)


def edge(all_points: list[Point], src: str, dst: str, start_ms: int = 0, end_ms: int = 2**62) -> list[Point]:
    """The points of src -> dst in (start_ms, end_ms]."""
    return [p for p in all_points if p.src == src and p.dst == dst and start_ms < p.t_ms <= end_ms]
