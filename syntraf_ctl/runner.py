"""Run syntraf's playbooks through ansible-runner's Python API, reporting events to a Progress (progress.py).

Everything Ansible needs ships inside this package: `ansible.cfg` (pointed to by ANSIBLE_CONFIG) and the
collection `syntraf.mesh` (its roles, modules and playbooks) under `ansible_collections/`. Where OpenSSH's
client is missing, Ansible connects with Paramiko instead.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

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
