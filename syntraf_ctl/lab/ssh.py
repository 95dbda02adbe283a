"""SSH to the lab's hosts: the lab's own key, and options that skip host key checks for the lab only."""

from __future__ import annotations

import subprocess
from pathlib import Path

from syntraf_ctl.lab.errors import LabError

# Lab hosts are re-created with new host keys on every `lab up`: never record or check them.
SSH_OPTIONS = (
    "-o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no -o LogLevel=ERROR "
    "-o BatchMode=yes -o IdentitiesOnly=yes"
)


def generate_key(path: Path, comment: str) -> None:
    """A new ed25519 key pair at `path` (private, mode 0600) and `path`.pub, replacing any old one."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    for old in (path, path.with_suffix(".pub")):
        old.unlink(missing_ok=True)
    result = subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise LabError(f"ssh-keygen failed for {path}: {result.stderr.strip()}")


def ssh_argv(key: Path, address: str, command: str, connect_timeout: int = 5) -> list[str]:
    return [
        "ssh",
        "-i",
        str(key),
        *SSH_OPTIONS.split(),
        "-o",
        f"ConnectTimeout={connect_timeout}",
        f"root@{address}",
        command,
    ]


def ssh_run(
    key: Path,
    address: str,
    command: str,
    *,
    check: bool = True,
    timeout: float = 120,
    input: str | None = None,
) -> subprocess.CompletedProcess:
    """Run a shell command on a lab host as root over real SSH."""
    return subprocess.run(
        ssh_argv(key, address, command),
        check=check,
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input,
        stdin=None if input is not None else subprocess.DEVNULL,
    )
