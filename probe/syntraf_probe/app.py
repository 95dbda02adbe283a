"""The probe of one mesh group: its edges' runners, the clock, the flushes, reload and shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import time
from pathlib import Path
from typing import Optional

from .atomic_write import write_atomically
from .config import Config, ConfigError, Edge, load_config
from .edge_runner import EdgeRunner, new_meter
from .iperf3 import Version, detect_version
from .lineproto import health_line, sample_line
from .meter import ReceiverMeter, Sample
from .schedule import running
from .spool import open_directory
from .voice import Voice
from .writer import Sink, read_token

log = logging.getLogger("syntraf_probe")

TICK_SECONDS = 0.25  # outage slots and watchdogs are checked this often
SHUTDOWN_WRITE_SECONDS = 5.0


def flush_interval(config: Config) -> float:
    """Flush twice per interval of the fastest edge, between 0.5 and 10 s: a point waits half an interval
    at most before it is sent, which keeps delivery within 2 s of the interval's end at 1 s intervals."""
    return min(10.0, max(0.5, min((edge.interval for edge in config.edges), default=20.0) / 2))


def edge_settings(config: Config, edge: Edge) -> tuple:
    """Everything that changes the edge's iperf3 command or its tags: a change restarts the edge."""
    return (edge, config.host, config.address, config.iperf3, config.auth)


def make_sinks(config: Config) -> dict[str, Sink]:
    return {db.name: Sink(db, config.spool.directory, config.spool.max_bytes) for db in config.databases}


def check_sinks(config: Config) -> None:
    """What make_sinks needs, checked without opening a spool (ConfigError): on reload, the old sinks must
    finish before the new ones scan their spool directories."""
    for db in config.databases:
        open_directory(str(Path(config.spool.directory) / db.name))
        read_token(db)


class Probe:
    def __init__(self, config: Config, version: Version, sinks: dict[str, Sink]) -> None:
        self.config, self.version, self.sinks = config, version, sinks
        self.runners: dict[str, EdgeRunner] = {}
        self.pending: list[str] = []
        self.finished_restarts = 0  # restarts of runners that were replaced or removed
        self.finished_sinks = {"dropped_points": 0, "write_errors": 0, "spool_errors": 0}  # of replaced sinks
        self.stopping = asyncio.Event()
        self.reload_requested = False
        self.voice: Optional[asyncio.Task] = None
        self.epoch: Optional[int] = None  # of a rotating group's schedule, when its edges were last chosen
        # a rotating group's edges this host measured but does not run this epoch: name -> state entry with
        # the last sample, so `syntraf-ctl status` shows when each pair was last measured
        self.idle: dict[str, dict] = {}

    def emit(self, edge: Edge, samples: list[Sample]) -> None:
        self.pending.extend(sample_line(edge, sample) for sample in samples)

    def add_lines(self, lines: list[str]) -> None:
        self.pending.extend(lines)  # self.pending is replaced at every flush: never hand out its extend

    def _start_runner(self, edge: Edge, meter: Optional[ReceiverMeter] = None) -> None:
        runner = EdgeRunner(self.config, edge, self.version, self.emit, meter)
        self.runners[edge.name] = runner
        runner.start()

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGHUP, self._request_reload)
        loop.add_signal_handler(signal.SIGTERM, self.stopping.set)
        loop.add_signal_handler(signal.SIGINT, self.stopping.set)
        log.info(
            "group %s on %s: %d edges, iperf3 %d.%d, revision %s",
            self.config.group,
            self.config.host,
            len(self.config.edges),
            *self.version,
            self.config.revision,
        )
        for edge in self._scheduled(self.config).values():
            self._start_runner(edge)
        self._start_voice()
        next_flush = time.monotonic() + flush_interval(self.config)
        while not self.stopping.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), TICK_SECONDS)
            now = time.monotonic()
            for runner in self.runners.values():
                runner.tick(now)
            for sink in self.sinks.values():
                sink.poll()
            if self.reload_requested:
                self.reload_requested = False
                await self.reload()
            schedule = self.config.schedule
            if schedule is not None and schedule.epoch(time.time()) != self.epoch:
                await self.switch_epoch()
            if time.monotonic() >= next_flush:
                next_flush += flush_interval(self.config)
                if next_flush < time.monotonic():  # the loop was held up: do not flush in a burst
                    next_flush = time.monotonic() + flush_interval(self.config)
                self.flush()
        await self.shutdown()
        return 0

    def _start_voice(self) -> None:
        """The group's echo, if configured; a failure to start it costs the echo, never the iperf3 edges."""
        if self.config.echo is None or not self.config.edges:
            return
        try:
            voice = Voice(self.config, self.add_lines, self._last_sample)
        except (ConfigError, OSError) as error:
            log.error("echo not started: %s", error)
            return
        self.voice = asyncio.ensure_future(voice.run())
        self.voice.add_done_callback(_log_voice_end)

    async def _stop_voice(self) -> None:
        if self.voice is not None:
            self.voice.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.voice
            self.voice = None

    def _last_sample(self, edge: Edge) -> Optional[Sample]:
        runner = self.runners.get(edge.name)
        return runner.meter.last_sample if runner is not None and runner.meter is not None else None

    def _scheduled(self, config: Config) -> dict[str, Edge]:
        """The edges of `config` that run now, by name (a rotating group's: the current epoch's)."""
        now = time.time()
        self.epoch = config.schedule.epoch(now) if config.schedule else None
        return {edge.name: edge for edge in running(config.edges, config.schedule, config.host, now)}

    async def switch_epoch(self) -> None:
        """A new epoch of the rotating schedule: stop the edges it drops first, then start the ones it adds,
        so the host never runs more iperf3 processes than the schedule says; the others run on untouched."""
        wanted = self._scheduled(self.config)
        dropped = [self.runners.pop(name) for name in list(self.runners) if name not in wanted]
        await asyncio.gather(*(runner.stop() for runner in dropped))
        self.finished_restarts += sum(runner.restarts for runner in dropped)
        for runner in dropped:
            entry = self._edge_state(runner)
            if runner.receiving and "last_sample" in entry:
                self.idle[runner.edge.name] = {**entry, "state": "idle"}
        added = [edge for name, edge in wanted.items() if name not in self.runners]
        for edge in added:
            self.idle.pop(edge.name, None)
            self._start_runner(edge)
        log.info("epoch %s: %d edges stopped, %d started", self.epoch, len(dropped), len(added))

    def _request_reload(self) -> None:
        self.reload_requested = True

    def flush(self) -> None:
        lines, self.pending = self.pending, []
        lines.append(health_line(self.config, self.health(), time.time()))
        for sink in self.sinks.values():
            sink.submit(lines)
        self.write_state()

    def health(self) -> dict:
        states = [runner.state for runner in self.runners.values()]
        return {
            "edges_configured": len(self.runners),
            "edges_measuring": sum(state in ("measuring", "sending") for state in states),
            "edges_outage": states.count("outage"),
            "edges_config_error": states.count("config_error"),
            "edges_not_measuring": states.count("not_measuring"),
            "iperf3_restarts": self.finished_restarts + sum(r.restarts for r in self.runners.values()),
            "spool_points": sum(sink.spool.points for sink in self.sinks.values()),
            "spool_bytes": sum(sink.spool.bytes for sink in self.sinks.values()),
            "dropped_points": self.finished_sinks["dropped_points"]
            + sum(sink.dropped_points for sink in self.sinks.values()),
            "write_errors": self.finished_sinks["write_errors"]
            + sum(sink.write_errors for sink in self.sinks.values()),
            "spool_errors": self.finished_sinks["spool_errors"]
            + sum(sink.spool.errors for sink in self.sinks.values()),
        }

    def write_state(self) -> None:
        health = self.health()
        state = {
            "host": self.config.host,
            "group": self.config.group,
            "revision": self.config.revision,
            "updated": round(time.time(), 3),
            "pid": os.getpid(),
            "iperf3_version": ".".join(map(str, self.version)),
            "edges": [self._edge_state(runner) for runner in self.runners.values()]
            + [entry for name, entry in self.idle.items() if name not in self.runners],
            "health": {
                "restarts": health["iperf3_restarts"],
                "spool_points": health["spool_points"],
                "dropped_points": health["dropped_points"],
                "write_errors": health["write_errors"],
            },
        }
        path = Path(self.config.state_path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(path, json.dumps(state).encode("utf-8"))
        except OSError as error:
            log.warning("state file %s: cannot write: %s", path, error)

    def _edge_state(self, runner: EdgeRunner) -> dict:
        entry = {
            "src": runner.edge.src,
            "dst": runner.edge.dst,
            "role": "receiver" if runner.receiving else "sender",
            "state": runner.state,
        }
        if runner.meter is not None and runner.meter.last_sample is not None:
            entry["last_sample"] = runner.meter.last_sample.as_dict()
        if runner.last_error:
            entry["last_error"] = runner.last_error
        return entry

    async def reload(self) -> None:
        """Re-read the config; restart only the edges whose settings changed."""
        try:
            new = load_config(self.config.path)
            version = (
                detect_version(new.iperf3.binary) if new.iperf3.binary != self.config.iperf3.binary else None
            )
            new_sinks = (new.databases, new.spool) != (self.config.databases, self.config.spool)
            if new_sinks:
                check_sinks(new)
        except ConfigError as error:
            log.error("reload refused, still running revision %s: %s", self.config.revision, error)
            return
        old_config, self.config = self.config, new
        self.version = version or self.version
        configured = {edge.name for edge in new.edges}
        self.idle = {name: entry for name, entry in self.idle.items() if name in configured}
        if new_sinks:
            await self._replace_sinks(new)
        wanted = self._scheduled(new)
        changed = [
            name
            for name, runner in self.runners.items()
            if name not in wanted
            or version is not None
            or edge_settings(old_config, runner.edge) != edge_settings(new, wanted[name])
        ]
        meters = {}
        for name in changed:
            runner = self.runners.pop(name)
            self.finished_restarts += runner.restarts
            await runner.stop()
            meters[name] = runner.meter
        for name, edge in wanted.items():
            if name not in self.runners:
                meter = meters.get(name)
                if meter is not None and edge.dst == new.host:
                    # keep the edge's timeline, so the restart does not leave or overlap a slot
                    meter = _continued_meter(meter, new, edge)
                self._start_runner(edge, meter)
        for runner in self.runners.values():
            runner.config = new  # unchanged edges: same settings, the new revision for their state
        await self._stop_voice()  # keys or peers may have changed: the echo starts afresh
        self._start_voice()
        old_names = {edge.name for edge in old_config.edges}
        log.info(
            "reloaded revision %s (was %s): %d edges restarted, %d removed, %d added, %d unchanged",
            new.revision,
            old_config.revision,
            len(set(changed) & set(wanted)),
            len(old_names - set(wanted)),
            len(set(wanted) - old_names),
            len(set(wanted) & old_names) - len(set(changed) & set(wanted)),
        )

    async def _replace_sinks(self, new: Config) -> None:
        """What was measured so far goes to the old config's databases (or their spools); the new sinks
        open their spools only then, so each point is in exactly one spool and replayed by one sink."""
        self.flush()
        for sink in self.sinks.values():
            await sink.drain(SHUTDOWN_WRITE_SECONDS)
            sink.close()
            self.finished_sinks["dropped_points"] += sink.dropped_points
            self.finished_sinks["write_errors"] += sink.write_errors
            self.finished_sinks["spool_errors"] += sink.spool.errors
        try:
            self.sinks = make_sinks(new)
        except ConfigError as error:  # the directory changed between the check and now
            log.error("spool or database unusable after reload, writing nothing: %s", error)
            self.sinks = {}

    async def shutdown(self) -> None:
        log.info("stopping: %d iperf3 children", len(self.runners))
        await self._stop_voice()
        await asyncio.gather(*(runner.stop() for runner in self.runners.values()))
        self.flush()
        await asyncio.gather(*(sink.drain(SHUTDOWN_WRITE_SECONDS) for sink in self.sinks.values()))
        for sink in self.sinks.values():
            sink.close()
        log.info("stopped")


def _log_voice_end(task: asyncio.Task) -> None:
    """The echo ends only when stopped; an error of its own is logged (the iperf3 edges go on)."""
    if not task.cancelled() and task.exception() is not None:
        log.error("echo stopped by an error", exc_info=task.exception())


def _continued_meter(old: ReceiverMeter, config: Config, edge: Edge) -> ReceiverMeter:
    """The restarted edge starts like the probe does (not measured until its first line, within a bound),
    after the last slot of the old meter."""
    meter = new_meter(config, edge, time.monotonic())
    meter.cursor, meter.last_sample = old.cursor, old.last_sample
    return meter


def run_probe(config: Config) -> int:
    version = detect_version(config.iperf3.binary)
    sinks = make_sinks(config)
    return asyncio.run(Probe(config, version, sinks).run())
