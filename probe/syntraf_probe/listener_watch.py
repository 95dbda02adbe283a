"""When a listener's test has run for too long: a test sends for `-t` seconds from its first interval, plus
the results exchange. After a long outage behind NAT a 3.12 listener can keep a stale `-R` test whose client
is gone for up to `-t` + 40 s, and an idle connection can wedge it (CVE-2023-7250): the edge then shows an
outage while the path works. The runner restarts a listener this reports as overdue."""

from __future__ import annotations

import re
from typing import Optional

from .keys import listener_idle
from .meter import BOUNDARY_SLACK

# any interval line of a test, sender or receiver: "[  5]   3.00-4.00   sec ..." (text), or a json interval
TEXT_PROGRESS = re.compile(r"^\[\s*\d+\]\S*\s+\d+\.\d+-\s*(?P<end>\d+\.\d+)\s+sec")
JSON_PROGRESS = re.compile(r'^\{"event":\s*"interval".*?"end":\s*(?P<end>[\d.]+)')
HANDSHAKE_MAX = 35.0  # seconds from a client's connection to its first interval (the UDP handshake: 30 s)


class ListenerWatch:
    def __init__(self, test_duration: float, interval: float, connect_timeout: float) -> None:
        self.run_limit = test_duration + connect_timeout + BOUNDARY_SLACK + 2 * interval
        self.setup_limit = connect_timeout + HANDSHAKE_MAX + interval
        self.busy_since: Optional[float] = None  # the first line of the current test
        self.origin: Optional[float] = None  # when its data started (its second 0)

    def reset(self) -> None:
        """No test is served (iperf3 waits for a client, or was restarted)."""
        self.busy_since = self.origin = None

    def on_line(self, text: str, now: float) -> None:
        if listener_idle(text):
            self.reset()
            return
        if not text.strip().strip("-"):
            return  # the separators around "Server listening"
        if self.busy_since is None:
            self.busy_since = now
        progress = TEXT_PROGRESS.search(text) or JSON_PROGRESS.search(text)
        if progress and self.origin is None:
            self.origin = now - float(progress.group("end"))

    def overdue(self, now: float) -> Optional[str]:
        if self.origin is not None and now - self.origin > self.run_limit:
            return f"its test has run {now - self.origin:.0f} s, more than -t allows: stale, restarted"
        if self.origin is None and self.busy_since is not None and now - self.busy_since > self.setup_limit:
            waited = now - self.busy_since
            return f"a client connected {waited:.0f} s ago and no test started: wedged, restarted"
        return None
