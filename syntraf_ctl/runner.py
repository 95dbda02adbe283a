"""Run syntraf's playbooks through ansible-runner's Python API, with live progress and a summary per host.

Everything Ansible needs ships inside this package: `ansible.cfg` (pointed to by ANSIBLE_CONFIG) and the
collection `syntraf.mesh` (its roles, modules and playbooks) under `ansible_collections/`. Where OpenSSH's
client is missing, Ansible connects with Paramiko instead.
"""

from __future__ import annotations

import argparse
import difflib
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TextIO

import ansible_runner

from syntraf_ctl.assets import ANSIBLE_CONFIG, PACKAGE_DIR, PLAYBOOK_DIR


@dataclass
class HostTally:
    ok: int = 0
    changed: int = 0
    failed: int = 0
    unreachable: int = 0
    skipped: int = 0

    @property
    def healthy(self) -> bool:
        return self.failed == 0 and self.unreachable == 0

    @property
    def tasks(self) -> int:
        """Tasks run for the host, skipped ones included (Ansible counts changed results as ok too)."""
        return self.ok + self.failed + self.unreachable + self.skipped


@dataclass
class RunOptions:
    inventory: str
    limit: str | None = None
    forks: int | None = None
    check: bool = False
    diff: bool = False
    vault_password_file: str | None = None
    extravars: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Failure:
    host: str
    task: str
    message: str

    def __str__(self) -> str:
        return f"{self.host}: {self.task}: {self.message}"


@dataclass
class PlaybookRun:
    status: str  # ansible-runner's: successful, failed, timeout, canceled
    rc: int
    hosts: dict[str, HostTally]
    results: dict[str, dict[str, Any]]  # host -> result of the collected task (see run_playbook's `collect`)
    failures: list[Failure]  # every failed task and unreachable host, in order
    output_tail: str = ""  # the end of ansible-playbook's output when it failed without a task failing

    @property
    def succeeded(self) -> bool:
        """Ansible succeeded, on at least one host, and on every host."""
        return self.rc == 0 and bool(self.hosts) and all(tally.healthy for tally in self.hosts.values())

    @property
    def changed(self) -> int:
        return sum(tally.changed for tally in self.hosts.values())


class Progress(Protocol):
    def event(self, event: dict[str, Any]) -> None: ...

    def finish(self) -> None: ...


def options_from_args(args: argparse.Namespace, extravars: dict[str, Any] | None = None) -> RunOptions:
    return RunOptions(
        inventory=str(Path(args.inventory).resolve()),
        limit=args.limit,
        forks=args.forks,
        check=getattr(args, "check", False),
        diff=getattr(args, "diff", False),
        vault_password_file=args.vault_password_file,
        extravars=extravars or {},
    )


def ansible_environment() -> dict[str, str]:
    """The environment of ansible-playbook: our ansible.cfg, and Paramiko if there is no ssh client."""
    # ansible-playbook of the environment syntraf-ctl runs in, whose bin/ may not be on PATH.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", os.defpath)])
    env = {
        "ANSIBLE_CONFIG": str(ANSIBLE_CONFIG),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_INVENTORY_UNPARSED_FAILED": "1",  # a broken inventory is an error, not an empty one
        "PATH": path,
    }
    if shutil.which("ssh") is None:
        env["ANSIBLE_TRANSPORT"] = "paramiko"
    return env


def command_line(options: RunOptions) -> str:
    flags = []
    if options.check:
        flags.append("--check")
    if options.diff:
        flags.append("--diff")
    if options.vault_password_file:
        flags += ["--vault-password-file", str(Path(options.vault_password_file).resolve())]
    return " ".join(flags)


class EventCollector:
    """Turns ansible-runner events into tallies, failures and collected results, and feeds the progress."""

    def __init__(self, progress: Progress, collect: str | None) -> None:
        self.progress = progress
        self.collect = collect
        self.stats: dict[str, dict[str, int]] = {}
        self.results: dict[str, dict[str, Any]] = {}
        self.failures: list[Failure] = []

    def __call__(self, event: dict[str, Any]) -> bool:
        name = event.get("event", "")
        data = event.get("event_data", {})
        if name == "playbook_on_stats":
            self.stats = {
                key: data.get(key) or {} for key in ("ok", "changed", "failures", "dark", "skipped")
            }
        elif (
            name == "runner_on_ok"
            and self.collect
            and self.collect in (data.get("task"), data.get("task_action"))
        ):
            self.results[data["host"]] = data.get("res", {})
        elif name in ("runner_on_failed", "runner_on_unreachable") and not data.get("ignore_errors"):
            self.failures.append(
                Failure(data.get("host", "?"), data.get("task", "?"), failure_message(data.get("res", {})))
            )
        self.progress.event(event)
        return False  # nothing needs the events on disk afterwards

    def tallies(self) -> dict[str, HostTally]:
        hosts = sorted({host for counts in self.stats.values() for host in counts})
        return {
            host: HostTally(
                ok=self.stats["ok"].get(host, 0),
                changed=self.stats["changed"].get(host, 0),
                failed=self.stats["failures"].get(host, 0),
                unreachable=self.stats["dark"].get(host, 0),
                skipped=self.stats["skipped"].get(host, 0),
            )
            for host in hosts
        }


def failure_message(result: dict[str, Any]) -> str:
    """The most useful one-line reason from a failed task's result (no_log results are already censored)."""
    message = result.get("msg") or result.get("stderr") or result.get("reason") or "failed"
    if isinstance(message, list):
        message = "; ".join(str(item) for item in message)
    items = [item for item in result.get("results", []) if isinstance(item, dict) and item.get("failed")]
    if items and message in ("failed", "One or more items failed"):
        message = failure_message(items[0])
    return " ".join(str(message).split())


def run_playbook(
    playbook: str, options: RunOptions, progress: Progress, collect: str | None = None
) -> PlaybookRun:
    """Run the collection's playbook against the inventory; `collect` names a task or an action (by its
    full name) whose ok results are kept, the last one per host."""
    collector = EventCollector(progress, collect)
    with tempfile.TemporaryDirectory(prefix="syntraf-runner-") as private_data_dir:
        runner = ansible_runner.run(
            private_data_dir=private_data_dir,
            project_dir=str(PACKAGE_DIR),
            playbook=str(PLAYBOOK_DIR / playbook),
            inventory=options.inventory,
            limit=options.limit,
            forks=options.forks,
            extravars=options.extravars,
            cmdline=command_line(options) or None,
            envvars=ansible_environment(),
            event_handler=collector,
            quiet=True,
        )
        tail = (
            "" if runner.rc == 0 or collector.failures else "\n".join(runner.stdout.read().splitlines()[-15:])
        )
    progress.finish()
    return PlaybookRun(
        runner.status, runner.rc, collector.tallies(), collector.results, collector.failures, tail
    )


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
