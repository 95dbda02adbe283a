"""One lab host: a systemd-nspawn container booting real systemd from its own overlay of the cached image,
in its own network namespace, kept running across reboots by a tiny supervisor loop.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

from syntraf_ctl.lab import processes
from syntraf_ctl.lab.cgroups import host_cgroups, remove_cgroups
from syntraf_ctl.lab.errors import LabError
from syntraf_ctl.lab.mounts import mount_overlay, remove_tree
from syntraf_ctl.lab.ssh import ssh_run
from syntraf_ctl.lab.state import Host

SUPERVISOR_TAG = "syntraf-lab-supervisor"
REBOOT_STATUS = 133  # systemd-nspawn's exit status when the container asked for a reboot

# Join the host's own cgroups (see cgroups.py), then boot the container, again after each reboot inside
# it; any other end (poweroff, kill) ends the loop.
SUPERVISOR = (
    'for cg in $SYNTRAF_LAB_CGROUPS; do echo $$ > "$cg/cgroup.procs" || exit 1; done; '
    f'while :; do "$@"; rc=$?; [ "$rc" -eq {REBOOT_STATUS} ] || exit "$rc"; echo "$0: rebooting"; done'
)

NSPAWN_PROPAGATE = Path("/run/systemd/nspawn/propagate")  # nspawn leaves a directory per machine there
CONTAINER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def prepare(host: Host, image: Path, public_key: str) -> None:
    """The host's writable root: an overlay of `image` whose changes live in the host's directory (so they
    survive reboots), with its own hostname, machine id, SSH host key and the lab's authorized key."""
    remove_tree(Path(host.directory))
    mount_overlay(image, host.upper, host.work, host.root)
    root = host.root
    (root / "etc/hostname").write_text(f"{host.name}\n")
    (root / "etc/machine-id").write_text(f"{uuid.uuid4().hex}\n")
    ssh_dir = root / "root/.ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    ssh_dir.chmod(0o700)
    authorized = ssh_dir / "authorized_keys"
    authorized.write_text(public_key.strip() + "\n")
    authorized.chmod(0o600)
    host_key = root / "etc/ssh/ssh_host_ed25519_key"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"root@{host.name}", "-f", str(host_key)],
        check=True,
        capture_output=True,
    )


def nspawn_argv(host: Host) -> list[str]:
    return [
        "systemd-nspawn",
        "-D",
        str(host.root),
        "-b",
        "--register=no",  # no system bus on machines without systemd as PID 1
        "--keep-unit",
        f"--network-namespace-path=/run/netns/{host.netns}",
        "-M",
        host.machine,
        f"--hostname={host.name}",
        "--console=passive",
        "--link-journal=no",
    ]


def start(host: Host) -> None:
    """Boot the host in the background, detached from the caller (it outlives `lab up`)."""
    cgroups = " ".join(str(directory) for directory in host_cgroups(host.machine))
    with open(host.log, "ab") as log:
        subprocess.run(
            [
                "setsid",
                "--fork",
                "sh",
                "-c",
                SUPERVISOR,
                f"{SUPERVISOR_TAG}:{host.machine}",
                *nspawn_argv(host),
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            env={**os.environ, "SYNTRAF_LAB_CGROUPS": cgroups},
            check=True,
        )


def stop_all(directory: Path) -> None:
    """Stop every host running from `directory` (a host's or a whole lab's), and anything else that runs
    from it (the database): the supervisors first, so that nothing boots again; then nspawn, which shuts
    its container down on SIGTERM; then whatever is left in the containers."""
    supervisors = [pid for pid in processes.pids_naming(directory) if _is_supervisor(pid)]
    processes.stop(supervisors, signal.SIGKILL)
    processes.stop(processes.pids_naming(directory))
    processes.stop(processes.pids_rooted_in(directory), signal.SIGKILL)


def _is_supervisor(pid: int) -> bool:
    argv = processes.cmdline(pid)
    return len(argv) > 3 and argv[3].startswith(SUPERVISOR_TAG)


def remove(host: Host) -> None:
    """Stop the host for good and remove all of it: processes, overlay, cgroups, network namespace."""
    stop_all(Path(host.directory))
    remove_cgroups(host.machine)
    remove_tree(NSPAWN_PROPAGATE / host.machine)
    remove_tree(Path(host.directory))
    subprocess.run(["ip", "netns", "delete", host.netns], capture_output=True)


def nspawn_pid(host: Host) -> int | None:
    for pid in processes.pids_naming(Path(host.directory)):
        argv = processes.cmdline(pid)
        if argv and argv[0].endswith("systemd-nspawn") and str(host.root) in argv:
            return pid
    return None


def leader_pid(host: Host) -> int | None:
    """The container's PID 1 (systemd), as a pid of the machine running the lab."""
    nspawn = nspawn_pid(host)
    if nspawn is None:
        return None
    leaders = processes.children(nspawn)
    return leaders[0] if len(leaders) == 1 else None


def exec_in(
    host: Host, argv: list[str], *, check: bool = True, timeout: float = 120, input: str | None = None
) -> subprocess.CompletedProcess:
    """Run a command inside the running host with nsenter (no SSH: works without sshd or network)."""
    leader = leader_pid(host)
    if leader is None:
        raise LabError(f"host {host.name} is not running (see {host.log})")
    return subprocess.run(
        [
            "nsenter",
            f"--target={leader}",
            "--mount",
            "--uts",
            "--ipc",
            "--net",
            "--pid",
            "--",
            "/usr/bin/env",
            "-i",
            f"PATH={CONTAINER_PATH}",
            "HOME=/root",
            "LANG=C.UTF-8",
            *argv,
        ],
        check=check,
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input,
        stdin=None if input is not None else subprocess.DEVNULL,
    )


def wait_booted(host: Host, key: Path, timeout: float = 90) -> list[str]:
    """Wait until systemd in the host finished booting and sshd lets the lab key in; return failed units."""
    deadline = time.monotonic() + timeout
    while True:
        if not processes.pids_naming(Path(host.directory)):  # neither its supervisor nor nspawn
            raise LabError(f"host {host.name} stopped while booting:\n{_log_tail(host)}")
        try:
            result = ssh_run(key, host.address, "systemctl is-system-running --wait", check=False, timeout=30)
        except subprocess.TimeoutExpired:
            result = None
        if result is not None and result.returncode != 255:  # 255: ssh itself failed (not up yet)
            state = result.stdout.strip()
            if state == "running":
                return []
            if state == "degraded":
                failed = ssh_run(key, host.address, "systemctl --failed --plain --no-legend", check=False)
                return [line.split()[0] for line in failed.stdout.splitlines() if line.strip()]
            raise LabError(f"host {host.name}: systemd is {state!r} after boot:\n{_log_tail(host)}")
        if time.monotonic() > deadline:
            raise LabError(
                f"host {host.name} did not boot with sshd within {timeout:.0f} s:\n{_log_tail(host)}"
            )
        time.sleep(0.3)


def reboot(host: Host, key: Path, timeout: float = 90) -> list[str]:
    """Reboot the host from inside (`systemctl reboot`) and wait until it is back; return failed units."""
    old_leader = leader_pid(host)
    exec_in(host, ["systemctl", "reboot"], check=False)
    deadline = time.monotonic() + timeout
    while leader_pid(host) in (old_leader, None):
        if time.monotonic() > deadline:
            raise LabError(f"host {host.name} did not come back from a reboot:\n{_log_tail(host)}")
        time.sleep(0.2)
    return wait_booted(host, key, max(1.0, deadline - time.monotonic()))


def _log_tail(host: Host, lines: int = 20) -> str:
    try:
        return "\n".join(host.log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no console log at {host.log})"
