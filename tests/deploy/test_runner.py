"""ansible-runner glue, with real ansible-playbook runs on this machine (local connection, no SSH server)."""

from __future__ import annotations

import io
import sys
from pathlib import Path

from syntraf_ctl.progress import PlainProgress, TerminalProgress, format_diff, print_summary
from syntraf_ctl.runner import RunOptions, ansible_environment, run_playbook


def test_status_playbook_collects_results_and_tells_failed_from_unreachable(tmp_path: Path) -> None:
    inventory = tmp_path / "hosts.ini"
    inventory.write_text(
        f"here ansible_connection=local ansible_python_interpreter={sys.executable}\n"
        "broken ansible_connection=local ansible_python_interpreter=/nonexistent/python3\n"
        # Nothing listens on port 1 of loopback: connection refused, at once.
        "gone ansible_host=127.0.0.1 ansible_port=1 ansible_connection=ssh\n"
    )
    log = io.StringIO()
    run = run_playbook(
        "status.yml", RunOptions(str(inventory)), PlainProgress(log), "syntraf.mesh.syntraf_probe_status"
    )
    assert set(run.results) == {"here"}
    assert isinstance(run.results["here"]["now"], float) and run.results["here"]["states"] == []
    assert run.hosts["here"].healthy and run.hosts["here"].ok >= 1
    assert run.hosts["broken"].failed == 1 and run.hosts["gone"].unreachable == 1
    assert not run.succeeded
    assert {failure.host for failure in run.failures} == {"broken", "gone"}
    assert (
        "gone: UNREACHABLE:" in log.getvalue()
        and "broken: FAILED: Report syntraf's units and state files: The module interpreter" in log.getvalue()
    )
    summary = io.StringIO()
    print_summary(run, summary)
    assert (
        "error: gone: Report syntraf's units and state files: Task failed: Failed to connect"
        in summary.getvalue()
    )
    assert "here    ok=" in summary.getvalue()


def test_a_broken_playbook_run_shows_ansibles_own_error(tmp_path: Path) -> None:
    inventory = tmp_path / "hosts.yml"
    inventory.write_text("all: [this is not an inventory\n")
    run = run_playbook(
        "status.yml", RunOptions(str(inventory), limit="nomatch"), PlainProgress(io.StringIO())
    )
    assert not run.succeeded and run.rc != 0
    summary = io.StringIO()
    print_summary(run, summary)
    assert "ansible-playbook ended with status" in summary.getvalue()


def test_paramiko_is_the_fallback_when_there_is_no_ssh_client(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH with no ssh in it
    env = ansible_environment()
    assert env["ANSIBLE_TRANSPORT"] == "paramiko"
    assert env["PATH"].split(":")[0] == str(Path(sys.executable).parent)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert "ANSIBLE_TRANSPORT" not in ansible_environment() or not Path("/usr/bin/ssh").exists()


def test_diff_of_changed_files_is_unified() -> None:
    result = {
        "changed": True,
        "results": [
            {
                "changed": True,
                "diff": [{"before": "a\nb\n", "after": "a\nc\n", "before_header": "/etc/syntraf/x.json"}],
            },
            {"changed": False, "diff": [{"before": "same\n", "after": "other\n"}]},
        ],
    }
    assert format_diff(result).splitlines() == [
        "--- /etc/syntraf/x.json",
        "+++ after",
        "@@ -1,2 +1,2 @@",
        " a",
        "-b",
        "+c",
    ]


def test_terminal_progress_redraws_one_line_per_host_in_place() -> None:
    screen = io.StringIO()
    ticks = iter(range(100))
    progress = TerminalProgress(screen, clock=lambda: float(next(ticks)))
    for host, changed in (("h1", False), ("h2", True)):
        progress.event(
            {
                "event": "runner_on_ok",
                "event_data": {"host": host, "task": "Copy", "res": {"changed": changed}},
            }
        )
    progress.finish()
    output = screen.getvalue()
    assert "h2: changed: Copy" in output
    assert "\x1b[1A\x1b[J" in output and "\x1b[2A\x1b[J" in output  # redrawn over itself, then cleared
    assert "h1  ok 1   changed 0" in output and "h2  ok 0   changed 1" in output
