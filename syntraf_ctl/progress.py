"""What a playbook run shows on screen: live progress (a table on a terminal, plain lines in logs and CI)
and the summary per host at the end."""

from __future__ import annotations

import difflib
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from syntraf_ctl.runner import PlaybookRun, Progress, failure_message


def print_summary(run: PlaybookRun, stream: TextIO = sys.stdout) -> None:
    """One line per host, then every failure."""
    width = max((len(host) for host in run.hosts), default=4)
    for host, tally in run.hosts.items():
        marker = "ok" if tally.healthy else "FAILED"
        print(
            f"  {host:<{width}}  ok={tally.ok:<3} changed={tally.changed:<3} failed={tally.failed:<3} "
            f"unreachable={tally.unreachable:<2} {marker}",
            file=stream,
        )
    for failure in run.failures:
        print(f"  error: {failure}", file=stream)
    if run.rc == 0 and not run.hosts:
        print("  error: no host matched (check the inventory and --limit)", file=stream)
    if run.rc != 0 and not run.failures:
        print(f"  error: ansible-playbook ended with status {run.rc} ({run.status}):", file=stream)
        print(run.output_tail, file=stream)


class PlainProgress:
    """One line per play, and per host for every change (with its diff when asked), failure or unreachable
    host (logs, CI)."""

    def __init__(
        self, stream: TextIO = sys.stdout, show_diff: bool = False, only_failures: bool = False
    ) -> None:
        self.stream = stream
        self.show_diff = show_diff
        self.only_failures = only_failures

    def event(self, event: dict[str, Any]) -> None:
        line = describe(event, self.show_diff)
        if line and not (self.only_failures and line.startswith("==")):
            print(line, file=self.stream, flush=True)

    def finish(self) -> None:
        pass


def describe(event: dict[str, Any], show_diff: bool = False) -> str | None:
    """The line(s) an event is worth, or None."""
    name = event.get("event", "")
    data = event.get("event_data", {})
    host, task = data.get("host"), data.get("task")
    if name == "playbook_on_play_start":
        return f"== {data.get('play')}"
    if name == "runner_on_ok" and data.get("res", {}).get("changed"):
        diff = format_diff(data["res"]) if show_diff else ""
        return f"{host}: changed: {task}" + (f"\n{diff}" if diff else "")
    if name == "runner_on_failed" and not data.get("ignore_errors"):
        return f"{host}: FAILED: {task}: {failure_message(data.get('res', {}))}"
    if name == "runner_on_unreachable":
        return f"{host}: UNREACHABLE: {failure_message(data.get('res', {}))}"
    return None


def format_diff(result: dict[str, Any]) -> str:
    """A unified diff of every file change a result reports (--diff), item results included."""
    diffs = result.get("diff") or []
    diffs = [diffs] if isinstance(diffs, dict) else list(diffs)
    for item in result.get("results", []):
        if isinstance(item, dict) and item.get("changed"):
            found = item.get("diff") or []
            diffs += [found] if isinstance(found, dict) else found
    chunks = []
    for diff in diffs:
        before, after = diff.get("before", ""), diff.get("after", "")
        if isinstance(before, str) and isinstance(after, str) and (before or after):
            chunks += difflib.unified_diff(
                before.splitlines(keepends=True),
                after.splitlines(keepends=True),
                diff.get("before_header", "before"),
                diff.get("after_header", "after"),
            )
        elif before != after:
            chunks.append(f"    {before} -> {after}\n")
    return "".join(chunks).rstrip("\n")


class TerminalProgress:
    """A live table on a terminal: one line per host with its counts and current task, redrawn in place.

    Changes and failures scroll above it as they happen, like PlainProgress's lines.
    """

    def __init__(
        self,
        stream: TextIO = sys.stdout,
        show_diff: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.show_diff = show_diff
        self.clock = clock
        self.hosts: dict[str, list[Any]] = {}  # host -> [ok, changed, failed, current task]
        self.drawn = 0
        self.last_draw = float("-inf")

    def event(self, event: dict[str, Any]) -> None:
        name = event.get("event", "")
        data = event.get("event_data", {})
        host = data.get("host")
        line = describe(event, self.show_diff)
        if host and name.startswith("runner_on_") and "item" not in name:
            row = self.hosts.setdefault(host, [0, 0, 0, ""])
            row[3] = data.get("task", "")
            if name == "runner_on_ok":
                row[1 if data.get("res", {}).get("changed") else 0] += 1
            elif name in ("runner_on_failed", "runner_on_unreachable") and not data.get("ignore_errors"):
                row[2] += 1
        if line and not line.startswith("=="):
            self.clear()
            print(line, file=self.stream)
        if line or self.clock() - self.last_draw > 0.1:
            self.draw()

    def clear(self) -> None:
        if self.drawn:
            self.stream.write(f"\x1b[{self.drawn}A\x1b[J")
            self.drawn = 0

    def draw(self) -> None:
        self.clear()
        width = max((len(host) for host in self.hosts), default=4)
        for host, (ok, changed, failed, task) in sorted(self.hosts.items()):
            self.stream.write(
                f"  {host:<{width}}  ok {ok:<3} changed {changed:<3} failed {failed:<2} {task[:60]}\n"
            )
        self.drawn = len(self.hosts)
        self.stream.flush()
        self.last_draw = self.clock()

    def finish(self) -> None:
        self.clear()
        self.stream.flush()


def progress_for(stream: TextIO = sys.stdout, show_diff: bool = False) -> Progress:
    """A live table on a terminal, plain lines otherwise."""
    return TerminalProgress(stream, show_diff) if stream.isatty() else PlainProgress(stream, show_diff)
