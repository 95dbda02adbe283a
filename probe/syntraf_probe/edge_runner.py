"""One edge's iperf3 child: start it, read its output as it arrives, restart it with a backoff chosen by
how it ended."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Callable, Optional

from .config import Config, ConfigError, Edge
from .iperf3 import Version, build_command, is_listener, test_seconds, uses_json_stream
from .keys import ROTATION_PAUSE, file_stamp, listener_idle, refused, rotating
from .listener_watch import ListenerWatch
from .meter import ReceiverMeter, Sample, restart_bound
from .parse import Connected, Failed, Interval, OutOfOrder, RunEnded, RunStarted, SenderTotal, line_parser

log = logging.getLogger("syntraf_probe.edge")

BUSY_DELAY = 1.0
# At a test boundary the listener is still closing the test that just ended for a few milliseconds: the
# first retries after "busy" come quickly, so back-to-back tests lose no interval; a listener that stays
# busy (a stale test) is then retried about once a second.
BUSY_QUICK_DELAY, BUSY_QUICK_TRIES = 0.1, 3
CONFIG_ERROR_DELAY = 60.0
BACKOFF_FIRST, BACKOFF_MAX = 0.5, 5.0
STOP_GRACE = 2.0
KEY_CHECK_SECONDS = 1.0
CONFIG_ERROR_HINTS = ("authorization failed", "parameter error", "you must specify", "server only", "bad tos")
# failures that are not the network's: the peer's probe is not listening, the listener is busy, the probe
# itself failed (docs/metrics.md): no outage is written for them
NOT_NETWORK_HINTS = CONFIG_ERROR_HINTS + ("busy", "connection refused", "probe error")
UNEXPECTED_DELAY = 5.0  # after an error of the probe itself (fork failed, a parser bug)


def network_failure(message: Optional[str]) -> bool:
    text = (message or "").lower()
    return not any(hint in text for hint in NOT_NETWORK_HINTS)


def listener_busy(message: Optional[str]) -> bool:
    """iperf3's "the server is busy running a test": the edge's listener (one per edge) still serves."""
    return "busy" in (message or "").lower()


def unreported_loss(sent: Optional[int], received: Optional[int]) -> Optional[int]:
    """What the sender sent less what arrived, from a test's two summary lines; None when not known. 3.12
    prints its summary even when the results exchange failed (then its error): the sender's line, which
    only the exchange fills in, says 0 datagrams then, and must not settle a blackhole as a hold."""
    if sent is None or received is None or sent <= 0 or sent < received:
        return None
    return sent - received


def wall_time(monotonic: float) -> float:
    """Wall time of a monotonic instant, read when a point is made (a clock step moves no slot)."""
    return monotonic + time.time() - time.monotonic()


def new_meter(config: Config, edge: Edge, now: float) -> ReceiverMeter:
    bound = restart_bound(edge.interval, config.iperf3.connect_timeout_ms / 1000)
    return ReceiverMeter(
        edge.interval, edge.packets_per_second, now, bound, test_seconds(config, edge), wall_time
    )


def restart_delay(
    returncode: int, message: Optional[str], measured: bool, failures: int
) -> tuple[float, str]:
    """How long to wait before starting the edge's iperf3 again, and the edge's state meanwhile."""
    text = (message or "").lower()
    if returncode == 0 and not message:
        return 0.0, "starting"  # a bounded test completed: the next one starts back to back
    if listener_busy(text):
        return (BUSY_QUICK_DELAY if failures <= BUSY_QUICK_TRIES else BUSY_DELAY), "backoff"
    if any(hint in text for hint in CONFIG_ERROR_HINTS):
        return CONFIG_ERROR_DELAY, "config_error"
    if measured:
        return BACKOFF_FIRST, "backoff"
    return min(BACKOFF_MAX, BACKOFF_FIRST * 2**failures), "backoff"  # refused, timed out, unreachable


class EdgeRunner:
    """Runs this host's side of one edge. `emit` receives the samples of receiving edges."""

    def __init__(
        self,
        config: Config,
        edge: Edge,
        version: Version,
        emit: Callable[[Edge, list[Sample]], None],
        meter: Optional[ReceiverMeter] = None,
    ) -> None:
        self.config, self.edge, self.version, self.emit = config, edge, version, emit
        self.receiving = edge.dst == config.host
        self.listener = is_listener(config, edge)
        self.parse = line_parser(uses_json_stream(version))
        self.meter = meter
        if self.receiving and meter is None:
            self.meter = new_meter(config, edge, time.monotonic())
        connect_timeout = config.iperf3.connect_timeout_ms / 1000
        self.watch = ListenerWatch(test_seconds(config, edge), edge.interval, connect_timeout)
        self.restarts = 0
        self.phase = "starting"  # starting | running | backoff | config_error
        self.last_error: Optional[str] = None
        self.process: Optional[asyncio.subprocess.Process] = None
        self.task: Optional[asyncio.Task] = None
        self.stopped = False
        self.last_output = time.monotonic()
        self.last_note: Optional[str] = None
        self.key_stamp: Optional[tuple] = None  # a listener's private key file when its iperf3 started
        self.key_replaced = False
        self.key_checked = 0.0
        self.sent_total: Optional[int] = None  # the current test's sender summary line
        # an initiator silent this long is wedged (the UDP handshake alone may take 30 s)
        self.watchdog = max(60.0, 5 * edge.interval + config.iperf3.connect_timeout_ms / 1000 + 35)

    @property
    def label(self) -> str:
        role = "listener" if self.listener else "initiator"
        return f"edge {self.edge.name} ({self.edge.mode}, {role}, port {self.edge.port})"

    @property
    def state(self) -> str:
        if self.phase == "config_error":
            return "config_error"
        if not self.receiving:
            return "sending" if self.phase == "running" else self.phase
        if self.meter.excused:
            return "not_measuring"  # refused, busy, the probe's own error: no point, not an outage
        if self.meter.measuring:
            return "measuring"
        if self.meter.last_sample is not None and (self.meter.last_sample.up == 0 or self.meter.suspect):
            return "outage"
        return self.phase if self.phase != "running" else "starting"

    def start(self) -> None:
        self.task = asyncio.ensure_future(self._run())

    def tick(self, now: float) -> None:
        """`now`: monotonic seconds."""
        process = self.process
        alive = process is not None and process.returncode is None
        if alive and not self.listener and now - self.last_output > self.watchdog:
            self._kill(process, f"no output for {self.watchdog:.0f} s, killed")
        overdue = self.watch.overdue(now) if alive and self.listener else None
        if overdue:
            self.watch.reset()  # killed once, not every tick
            self._kill(process, f"listener: {overdue}")
        idle = now - self.last_output > 2 * self.edge.interval + 1
        if self.listener and idle and now - self.key_checked >= KEY_CHECK_SECONDS:
            self._restart_if_key_replaced()  # an idle listener (its initiator is away) switches keys too
        if self.meter is not None:
            self._emit(self.meter.tick(now))

    def _kill(self, process: asyncio.subprocess.Process, reason: str) -> None:
        self.last_error = reason
        log.warning("%s: %s", self.label, reason)
        with contextlib.suppress(ProcessLookupError):
            process.kill()

    def _emit(self, samples: list[Sample]) -> None:
        if samples:
            if log.isEnabledFor(logging.DEBUG):
                log.debug("%s: points %s", self.label, [sample.as_dict() for sample in samples])
            self.emit(self.edge, samples)

    async def stop(self) -> None:
        """Stop the edge's iperf3; never raises (a shutdown or reload must reach its final flush)."""
        self.stopped = True
        try:
            if self.task is not None:
                self.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self.task
            if self.process is not None and self.process.returncode is None:
                await self._terminate(self.process)
        except Exception:
            log.exception("%s: error while stopping", self.label)

    async def _run(self) -> None:
        failures = 0
        alternate = False  # key rotation: use the listener's other public key
        while not self.stopped:
            try:
                failures, alternate = await self._run_once(failures, alternate)
            except Exception as error:  # a failed fork (EAGAIN, ENOMEM), a parser bug: never end the edge
                log.exception("%s: probe error, retry in %g s", self.label, UNEXPECTED_DELAY)
                self.last_error, self.phase = f"probe error: {type(error).__name__}", "backoff"
                self.restarts += 1
                if self.meter is not None:
                    self._emit(self.meter.on_failure(time.monotonic(), network=False))
                await asyncio.sleep(UNEXPECTED_DELAY)

    async def _run_once(self, failures: int, alternate: bool) -> tuple[int, bool]:
        """One iperf3 child and the pause after it; returns the failure count and key choice for the next."""
        rotation = not self.listener and rotating(self.config.auth, self.edge.listener)
        alternate = alternate and rotation
        try:
            command = build_command(self.config, self.edge, self.version, alternate_key=alternate)
        except ConfigError as error:
            self._note(f"configuration error: {error}", logging.ERROR)
            self.phase, self.last_error = "config_error", f"configuration error: {error}"
            if self.meter is not None:
                self._emit(self.meter.on_failure(time.monotonic(), network=False))
            await asyncio.sleep(CONFIG_ERROR_DELAY)
            return failures, alternate
        self.phase = "running"
        returncode, measured = await self._run_child(command.argv, command.env)
        if self.stopped:
            return failures, alternate
        if self.key_replaced:  # the probe's own restart, between two tests: the boundary goes on
            self.key_replaced = False
            log.info("%s: private key replaced: iperf3 restarted between two tests", self.label)
            return 0, alternate
        error = self.last_error or (f"no message, exit status {returncode}" if returncode != 0 else None)
        if self.meter is not None:
            now = time.monotonic()
            if error and listener_busy(error):
                self._emit(self.meter.on_busy(now))
            elif error:
                self._emit(self.meter.on_failure(now, network_failure(error)))
            else:
                self._emit(self.meter.on_test_ended(now, clean=False))  # after its summary: no change
        failures = 0 if measured or returncode == 0 else failures + 1
        delay, self.phase = restart_delay(returncode, error, measured, failures)
        if rotation and refused(error):
            # the listener may hold either generation's key until it restarts between two tests: try the
            # other key soon, never a configuration-error pause (docs/security.md, "rotation")
            alternate = not alternate
            pause = 0.0 if failures <= 1 else min(BACKOFF_MAX, ROTATION_PAUSE * 2 ** (failures - 2))
            delay, self.phase = pause, "backoff"
            log.info("%s: refused during a key rotation: trying the listener's other key", self.label)
        elif rotation and failures <= 1:
            # lets the listener restart with its new key between two tests; a first failure (the
            # listener restarting as this test connected) is retried as soon too
            delay = ROTATION_PAUSE
        boundary_busy = "busy" in (error or "").lower() and failures <= BUSY_QUICK_TRIES
        if error and not boundary_busy:
            self.restarts += 1  # a busy listener at a test boundary is no restart worth counting
            what = "configuration error: " if self.phase == "config_error" else ""
            level = logging.ERROR if self.phase == "config_error" else logging.WARNING
            self._note(f"iperf3 exited {returncode}: {what}{error}", level, delay)
        if delay:
            await asyncio.sleep(delay)
        return failures, alternate

    async def _run_child(self, argv: list[str], env: dict) -> tuple[int, bool]:
        """Run one iperf3 until it exits; return its exit status and whether it measured anything."""
        self.last_error = None
        measured = False
        process = self.process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=env,
        )
        log.debug("%s: started iperf3 pid %d", self.label, process.pid)
        if self.meter is not None and not self.listener:
            self.meter.on_attempt(time.monotonic())
        self.watch.reset()
        if self.listener and self.config.auth is not None:
            self.key_stamp = file_stamp(self.config.auth.private_key_path)
        self.last_output = time.monotonic()
        try:
            while True:
                raw = await process.stdout.readline()
                if not raw:
                    break
                self.last_output = time.monotonic()
                measured |= self._handle_safely(raw.decode(errors="replace"), self.last_output)
            return await process.wait(), measured
        finally:
            if process.returncode is None:
                await self._terminate(process)
            self.process = None

    async def _terminate(self, process: asyncio.subprocess.Process) -> None:
        try:
            process.terminate()
            await asyncio.wait_for(process.wait(), STOP_GRACE)
        except ProcessLookupError:
            pass
        except asyncio.TimeoutError:
            process.kill()
            await process.wait()

    def _handle_safely(self, text: str, now: float) -> bool:
        """One line; a line the parser or meter chokes on is logged and skipped, the test goes on."""
        try:
            return self._handle(text, now)
        except Exception:
            self._note(f"cannot use iperf3 line {text.strip()[:120]!r}", logging.ERROR)
            log.debug("%s: line error", self.label, exc_info=True)
            return False

    def _handle(self, text: str, now: float) -> bool:
        """`now`: monotonic seconds when the line was read."""
        event = self.parse(text)
        log.debug("%s: line %r", self.label, text.rstrip())
        if self.listener:
            self.watch.on_line(text, now)
            if listener_idle(text):
                self.last_error = None  # back to waiting for a client: an earlier client's error is over
                self._restart_if_key_replaced()
        if isinstance(event, RunStarted):
            self.last_error = None  # an error of an earlier client of this listener is not this test's
            self.sent_total = None  # nor the summary of a test that ended without its receiver line
        if isinstance(event, Failed):
            self.last_error = event.message
            log.debug("%s: iperf3 says: %s", self.label, event.message)
        if self.meter is None or event is None:
            return isinstance(event, Interval)
        if isinstance(event, Connected):
            self.meter.on_connected(now)
        elif isinstance(event, RunStarted):
            self.meter.on_test_started(now)
        elif isinstance(event, Interval):
            self._emit(self.meter.on_interval(event, now))
        elif isinstance(event, OutOfOrder):
            self._emit(self.meter.on_out_of_order(event.count))
        elif isinstance(event, RunEnded):
            if event.out_of_order is not None:
                self._emit(self.meter.on_out_of_order(event.out_of_order))
            sent, self.sent_total = self.sent_total, None
            self._emit(self.meter.on_test_ended(now, event.clean, unreported_loss(sent, event.received)))
        elif isinstance(event, SenderTotal):
            self.sent_total = event.packets
        elif isinstance(event, Failed) and self.listener:
            # a listener's test failed; it waits for the next client (an initiator exits: _run_once)
            self._emit(self.meter.on_failure(now, network_failure(event.message)))
        return isinstance(event, Interval)

    def _restart_if_key_replaced(self) -> None:
        """A listener whose private key file was replaced restarts its iperf3 (which reads the key only when
        it starts); called only while it serves no test (keys.py)."""
        self.key_checked = time.monotonic()
        auth, process = self.config.auth, self.process
        if auth is None or process is None or self.key_replaced:
            return
        if file_stamp(auth.private_key_path) != self.key_stamp:
            self.key_replaced = True
            with contextlib.suppress(ProcessLookupError):
                process.terminate()

    def _note(self, message: str, level: int, delay: Optional[float] = None) -> None:
        suffix = f"; retry in {delay:g} s" if delay else ""
        # the same failure repeating during an outage is logged once, not every few seconds
        if message != self.last_note or level >= logging.ERROR:
            log.log(level, "%s: %s%s", self.label, message, suffix)
        else:
            log.debug("%s: %s%s", self.label, message, suffix)
        self.last_note = message
