"""Review cases about loading the inventory: duplicate keys (C4), parse failures with their cause (C1, S1,
S2), a hanging inventory script (S3), a vault password file inside the inventory (F4)."""

from __future__ import annotations

import contextlib
import os
import stat
import time

import pytest


def problem_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("  - ")]


def script(path, body: str):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def command_lines() -> list[str]:
    lines = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError), open(f"/proc/{pid}/cmdline") as stream:
            lines.append(stream.read())
    return lines


@pytest.mark.parametrize(
    "setting", [None, "ignore", "warn"]
)  # Ansible's duplicate_dict_key, as a user sets it
def test_a_duplicate_yaml_key_is_an_error_naming_file_and_line(review, monkeypatch, setting):  # C4
    if setting:
        monkeypatch.setenv("ANSIBLE_DUPLICATE_YAML_DICT_KEY", setting)
    review.group("{packet_size: 172, packets_per_second: 50,\n  packets_per_second: 5000}")
    review.file("host_vars/a1.yml", "syntraf_log_level: info\nsyntraf_log_level: debug\n")
    code, _, err = review.run("plan")
    assert code == 2
    lines = problem_lines(err)
    assert len(lines) == 2, err
    assert "inv/group_vars/all/main.yml:2: inventory: duplicate key 'packets_per_second'" in lines[0]
    assert "inv/host_vars/a1.yml:2: inventory: duplicate key 'syntraf_log_level'" in lines[1]


def test_a_yaml_syntax_error_shows_the_cause_and_line(review):  # C1
    review.file("hosts.yml", "all:\n  hosts:\n    a1: {ansible_host: 127.0.0.1\n    a2: {}\n")
    code, _, err = review.run("plan")
    assert code == 2
    assert problem_lines(err) == [
        "  - inv/hosts.yml:4: inventory: cannot be parsed: YAML parsing failed: "
        "While parsing a flow mapping did not find expected ',' or '}'"
    ]
    assert "Completely failed" not in err and "ini" not in err


@pytest.mark.parametrize(
    ("body", "cause"),
    [
        (
            'echo "cannot reach the CMDB" >&2\nexit 3\n',
            "exit code 3: Standard error from inventory script: cannot reach the CMDB",
        ),
        ('echo "{not json"\n', "Expecting property name enclosed in double quotes"),
    ],
)
def test_a_failing_inventory_script_shows_why(tmp_path, capsys, body, cause):  # S1, S2
    from syntraf_ctl.cli import main

    source = script(tmp_path / "cmdb.sh", body)
    assert main(["plan", "-i", str(source)]) == 2
    lines = problem_lines(capsys.readouterr().err)
    assert len(lines) == 1 and cause in lines[0] and "cmdb.sh: inventory: cannot be parsed" in lines[0]


def test_a_hanging_inventory_script_times_out_and_is_killed(tmp_path, capsys, monkeypatch):  # S3
    from syntraf_ctl.cli import main

    marker = tmp_path / "still-running"
    source = script(tmp_path / "cmdb.sh", f"sleep 30; touch {marker}\n")
    monkeypatch.setenv("SYNTRAF_INVENTORY_TIMEOUT", "1")
    started = time.monotonic()
    assert main(["plan", "-i", str(source)]) == 2
    assert time.monotonic() - started < 10
    assert "not loaded within 1 s" in capsys.readouterr().err
    assert not any("sleep\x0030" in command for command in command_lines())


def test_a_timed_out_inventory_script_that_keeps_forking_leaves_no_process(tmp_path, capsys, monkeypatch):
    """A child forked between the scan of the script's processes and the kill of its parent once outlived
    the kill (a `sleep 30` found after the time limit, under load)."""
    from syntraf_ctl.cli import main

    pause = f"29.{os.getpid()}"  # a sleep no other test or run starts
    source = script(tmp_path / "cmdb.sh", f"while :; do sleep {pause} & done\n")
    monkeypatch.setenv("SYNTRAF_INVENTORY_TIMEOUT", "1")
    assert main(["plan", "-i", str(source)]) == 2
    assert "not loaded within 1 s" in capsys.readouterr().err
    assert not [command for command in command_lines() if f"sleep\x00{pause}" in command]


def test_a_vault_password_file_inside_the_inventory_is_refused(review):  # F4
    password = review.root / "vault-pass"
    password.write_text("pw\n")
    code, out, err = review.run("plan", "--vault-password-file", str(password))
    assert code == 2
    assert "vault password file is inside the inventory directory" in err
    assert "pw" not in out and ": pw" not in err
