"""Delivery of line-protocol batches to every database, through a bounded spool when one is unavailable.

influxdb-client's synchronous write API is used with its retries off, so each call is exactly one HTTP
request whose outcome is classified here: 2xx delivered; 400 (a malformed request: a line the database
refuses) drops the batch, because sending it again cannot succeed; 413 (too large) splits the batch; every
other answer (401, 403, 404 and 408 included: a token being rotated, a proxy restarting), timeouts and
connection errors keep the batch in the spool and retry with backoff, logged as a configuration error when
the database refused it. Calls block, so each database has one worker thread and at most one request in
flight.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Optional

from .bounds import check_token
from .config import ConfigError, Database
from .spool import Spool

log = logging.getLogger("syntraf_probe.writer")

DELIVERED, TRANSIENT, REFUSED, TOO_LARGE = "delivered", "transient", "refused", "too_large"
REQUEST_TIMEOUT_MS = 10_000
MAX_LINES_PER_REQUEST = 5000
BACKOFF_MIN, BACKOFF_MAX = 1.0, 30.0
LOG_REPEAT_SECONDS = 60.0


def read_token(db: Database) -> str:
    """The token of `db`; one that cannot be sent (a line break in it) is a config error, not transient."""
    try:
        return check_token(Path(db.token_path).read_text(encoding="utf-8").strip())
    except OSError as error:
        raise ConfigError(f"databases {db.name}: token_path {db.token_path}: {error.strerror}") from None
    except ValueError as error:
        raise ConfigError(f"databases {db.name}: token_path {db.token_path}: {error}") from None


class DatabaseClient:
    """One database behind influxdb-client, returning an outcome instead of raising."""

    def __init__(self, db: Database, token: str) -> None:
        from influxdb_client import InfluxDBClient  # imported here: slow, and only needed to write
        from influxdb_client.client.write_api import SYNCHRONOUS

        self.db = db
        self.client = InfluxDBClient(
            url=db.url,
            token=token,
            org=db.org,
            timeout=REQUEST_TIMEOUT_MS,
            verify_ssl=db.verify_tls,
            ssl_ca_cert=db.ca_path,
            retries=False,
            enable_gzip=False,
        )
        self.write_api = self.client.write_api(write_options=SYNCHRONOUS)

    def write(self, lines: list[str]) -> tuple[str, str]:
        """(outcome, detail) for one request carrying `lines`; detail never contains the token."""
        from influxdb_client.rest import ApiException

        try:
            self.write_api.write(
                bucket=self.db.bucket, org=self.db.org, record="\n".join(lines), write_precision="ms"
            )
            return DELIVERED, ""
        except ApiException as error:
            body = error.body or b""
            body = body.decode(errors="replace") if isinstance(body, bytes) else str(body)
            detail = f"HTTP {error.status} {error.reason or ''}: {body.strip()[:200]}".strip()
            if error.status == 400:
                return REFUSED, detail
            if error.status == 413:
                return TOO_LARGE, detail
            if error.status and 400 < error.status < 500 and error.status != 429:
                return TRANSIENT, f"configuration error? check url, org, bucket and token: {detail}"
            return TRANSIENT, detail
        except Exception as error:  # urllib3 timeouts, refused connections, TLS failures
            return TRANSIENT, f"{type(error).__name__}: {str(error)[:200]}"

    def close(self) -> None:
        self.client.close()


class Sink:
    """One database: direct writes while it keeps up, the spool (oldest first) while it does not."""

    def __init__(self, db: Database, spool_dir: str, max_bytes: int) -> None:
        self.db = db
        self.spool = Spool(str(Path(spool_dir) / db.name), max_bytes)
        self.client = DatabaseClient(db, read_token(db))
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"write-{db.name}")
        self.busy = False
        self.retry_at = 0.0
        self.backoff = BACKOFF_MIN
        self.write_errors = 0
        self.refused_points = 0
        self.last_logged: dict[str, float] = {}
        self.task: Optional[asyncio.Task] = None
        self.in_flight: list[str] = []  # a direct write's batch, not yet in the spool
        self.closed = False

    @property
    def dropped_points(self) -> int:
        return self.spool.dropped_points + self.refused_points

    def submit(self, lines: list[str]) -> None:
        """Hand over one flush's batch; never blocks."""
        if self.busy or self.spool or time.monotonic() < self.retry_at:
            self.spool.append(lines)
        elif lines:
            self.busy = True
            self.in_flight = lines
            self.task = asyncio.ensure_future(self._deliver_direct(lines))
            return
        self._kick()

    def _kick(self) -> None:
        if not self.busy and self.spool and time.monotonic() >= self.retry_at:
            self.busy = True
            self.task = asyncio.ensure_future(self._replay())

    def poll(self) -> None:
        """Called every tick: resume replay once the backoff has passed."""
        self._kick()

    async def _request(self, lines: list[str]) -> str:
        loop = asyncio.get_running_loop()
        outcome, detail = await loop.run_in_executor(self.executor, self.client.write, lines)
        if outcome == DELIVERED:
            if self.backoff > BACKOFF_MIN or self.last_logged:
                log.info("database %s: writes succeed again", self.db.name)
                self.last_logged.clear()
            self.backoff = BACKOFF_MIN
            return outcome
        self.write_errors += 1
        if outcome == TOO_LARGE:
            self._log_once("too_large", f"database {self.db.name}: request too large, split: {detail}")
        elif outcome == TRANSIENT:
            self.retry_at = time.monotonic() + self.backoff
            self._log_once(
                "transient",
                f"database {self.db.name}: write failed, spooling, retry in {self.backoff:.0f} s: {detail}",
            )
            self.backoff = min(BACKOFF_MAX, self.backoff * 2)
        else:
            self._log_once(
                "refused",
                f"database {self.db.name}: the database refused the write as malformed: {detail}; "
                f"{len(lines)} points dropped",
                logging.ERROR,
            )
        return outcome

    def _log_once(self, kind: str, message: str, level: int = logging.WARNING) -> None:
        now = time.monotonic()
        if now - self.last_logged.get(kind, -1e9) >= LOG_REPEAT_SECONDS:
            self.last_logged[kind] = now
            log.log(level, message)

    async def _deliver_direct(self, lines: list[str]) -> None:
        try:
            outcome = await self._request(lines)
            if outcome in (TRANSIENT, TOO_LARGE):
                self.spool.append(lines)  # the replay sends it in smaller requests if needed
            elif outcome == REFUSED:
                self.refused_points += len(lines)
        finally:
            self.busy = False
            self.in_flight = []
        self._kick()

    async def _send(self, lines: list[str]) -> tuple[str, int]:
        """Send `lines` in order, halving a request the database finds too large; (outcome, lines done).
        A request refused as malformed drops only its lines, counted; the rest goes on."""
        done = 0
        size = MAX_LINES_PER_REQUEST
        while done < len(lines):
            chunk = lines[done : done + size]
            outcome = await self._request(chunk)
            if outcome == TOO_LARGE and size > 1:
                size = max(1, size // 2)
                continue
            if outcome in (REFUSED, TOO_LARGE):
                self.refused_points += len(chunk)
            elif outcome != DELIVERED:
                return outcome, done
            done += len(chunk)
        return DELIVERED, done

    async def _replay(self) -> None:
        try:
            while self.spool and time.monotonic() >= self.retry_at and not self.closed:
                sequence, lines = self.spool.oldest()
                outcome, done = await self._send(lines)
                if outcome == DELIVERED:
                    self.spool.remove(sequence)
                else:
                    self.spool.replace(sequence, lines[done:])  # keep what was not delivered, in order
                    break
        finally:
            self.busy = False

    async def drain(self, timeout: float) -> None:
        """At shutdown: wait for the request in flight; what is not delivered stays in the spool."""
        if self.task is not None and not self.task.done():
            try:
                await asyncio.wait_for(asyncio.shield(self.task), timeout)
            except asyncio.TimeoutError:
                log.warning("database %s: no answer at exit, the batch in flight stays spooled", self.db.name)
                self.spool.append(self.in_flight)

    def close(self) -> None:
        self.closed = True  # a replay still waiting for an answer stops after it
        self.executor.shutdown(wait=False)
        self.client.close()
