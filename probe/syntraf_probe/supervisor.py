"""One edge's iperf3 child: start it, read its output as it arrives, restart it with a backoff chosen by
how it ended."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Callable, Optional

from .config import Config, ConfigError, Edge
from .iperf3 import Version, build_command, is_listener, uses_json_stream
from .keys import ROTATION_PAUSE, file_stamp, listener_idle, refused, rotating
from .meter import ReceiverMeter, Sample
from .parse import Failed, Interval, RunEnded, RunStarted, parse_json_line, parse_text_line

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


def restart_delay(
    returncode: int, message: Optional[str], measured: bool, failures: int
) -> tuple[float, str]:
    """How long to wait before starting the edge's iperf3 again, and the edge's state meanwhile."""
    text = (message or "").lower()
    if returncode == 0 and not message:
        return 0.0, "starting"  # a bounded test completed: the next one starts back to back
    if "busy" in text:
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
        self.parse = parse_json_line if uses_json_stream(version) else parse_text_line
        self.meter = meter
        if self.receiving and meter is None:
            self.meter = ReceiverMeter(edge.interval, edge.packets_per_second, time.time())
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
        if self.meter.measuring:
            return "measuring"
        if self.meter.last_sample is not None and (self.meter.last_sample.up == 0 or self.meter.suspect):
            return "outage"
        return self.phase if self.phase != "running" else "starting"

    def start(self) -> None:
        self.task = asyncio.ensure_future(self._run())

    def tick(self, now: float) -> None:
        process = self.process
        silent = time.monotonic() - self.last_output > self.watchdog
        if not self.listener and process is not None and process.returncode is None and silent:
            self.last_error = f"no output for {self.watchdog:.0f} s, killed"
            process.kill()
        idle = time.monotonic() - self.last_output > 2 * self.edge.interval + 1
        if self.listener and idle and time.monotonic() - self.key_checked >= KEY_CHECK_SECONDS:
            self._restart_if_key_replaced()  # an idle listener (its initiator is away) switches keys too
        if self.meter is not None:
            samples = self.meter.tick(now)
            if samples:
                self.emit(self.edge, samples)

    async def stop(self) -> None:
        self.stopped = True
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        if self.process is not None and self.process.returncode is None:
            await self._terminate(self.process)

    async def _run(self) -> None:
        failures = 0
        alternate = retried = False  # key rotation: use the listener's other public key; tried it already
        while not self.stopped:
            rotation = not self.listener and rotating(self.config.auth, self.edge.listener)
            alternate = alternate and rotation
            try:
                command = build_command(self.config, self.edge, self.version, alternate_key=alternate)
            except ConfigError as error:
                self._note(f"configuration error: {error}", logging.ERROR)
                self.phase = "config_error"
                await asyncio.sleep(CONFIG_ERROR_DELAY)
                continue
            self.phase = "running"
            returncode, measured = await self._run_child(command.argv, command.env)
            if self.stopped:
                return
            if self.meter is not None:
                self.meter.on_test_ended()
            if self.key_replaced:
                self.key_replaced = False
                log.info("%s: private key replaced: iperf3 restarted between two tests", self.label)
                continue
            if rotation and refused(self.last_error) and not retried:
                alternate, retried = not alternate, True
                log.info("%s: refused during a key rotation: trying the listener's other key", self.label)
                continue
            retried = retried and not (measured or returncode == 0)
            failures = 0 if measured or returncode == 0 else failures + 1
            delay, self.phase = restart_delay(returncode, self.last_error, measured, failures)
            if rotation and failures <= 1:
                # lets the listener restart with its new key between two tests; a first failure (the
                # listener restarting as this test connected) is retried as soon too
                delay = ROTATION_PAUSE
            if returncode != 0 or self.last_error:
                self.restarts += 1
                what = "configuration error: " if self.phase == "config_error" else ""
                level = logging.ERROR if self.phase == "config_error" else logging.WARNING
                self._note(
                    f"iperf3 exited {returncode}: {what}{self.last_error or 'no message'}", level, delay
                )
            if delay:
                await asyncio.sleep(delay)

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
        if self.listener and self.config.auth is not None:
            self.key_stamp = file_stamp(self.config.auth.private_key_path)
        self.last_output = time.monotonic()
        try:
            while True:
                raw = await process.stdout.readline()
                if not raw:
                    break
                self.last_output = time.monotonic()
                measured |= self._handle(raw.decode(errors="replace"), time.time())
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

    def _handle(self, text: str, now: float) -> bool:
        event = self.parse(text)
        if self.listener and listener_idle(text):
            self._restart_if_key_replaced()
        if event is None:
            return False
        if isinstance(event, Failed):
            self.last_error = event.message
            log.debug("%s: iperf3 says: %s", self.label, event.message)
        if self.meter is None:
            return isinstance(event, Interval)
        samples: list[Sample] = []
        if isinstance(event, RunStarted):
            samples = self.meter.on_test_started(now)
        elif isinstance(event, Interval):
            samples = self.meter.on_interval(event, now)
        elif isinstance(event, (RunEnded, Failed)):
            self.meter.on_test_ended()
        if samples:
            self.emit(self.edge, samples)
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
