"""The lab hosts' root file system: built once per suite and recipe with debootstrap, cached, read-only after.

The cache directory's name carries a hash of the package list and of the recipe below, so changing either
builds a new image instead of reusing a stale one. A build happens in a temporary directory that is renamed
into place only when complete, under a lock, so an interrupted or concurrent build never leaves a half image.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from syntraf_ctl.lab.errors import LabError
from syntraf_ctl.lab.mounts import remove_tree

CACHE_ROOT = Path("/var/cache/syntraf-lab")
DEFAULT_SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"

PACKAGES = (
    "systemd",
    "systemd-sysv",
    "dbus",
    "openssh-server",
    "python3",
    "python3-venv",  # lab hosts have no internet: anything a role may need must be in the image
    "iperf3",
    "iproute2",
    "nftables",
    "sudo",
)

# sshd: root with a key only; one host key type, generated per host when the host is created (hosts.py)
SSHD_CONFIG = """\
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
HostKey /etc/ssh/ssh_host_ed25519_key
UseDNS no
"""

# Units that only slow a container's boot or do work a throw-away lab host never needs.
MASKED_UNITS = (
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
    "dpkg-db-backup.timer",
    "e2scrub_all.timer",
    "fstrim.timer",
    "man-db.timer",
    "console-getty.service",
    "getty@tty1.service",
    "systemd-networkd-wait-online.service",
)

RECIPE_VERSION = 1  # bump when `_customize` changes in a way SSHD_CONFIG and MASKED_UNITS do not show


def recipe_hash(suite: str) -> str:
    recipe = {
        "suite": suite,
        "packages": PACKAGES,
        "sshd": SSHD_CONFIG,
        "masked": MASKED_UNITS,
        "version": RECIPE_VERSION,
    }
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:12]


def rootfs_path(suite: str, cache_root: Path = CACHE_ROOT) -> Path:
    return cache_root / f"rootfs-{suite}-{recipe_hash(suite)}"


def apt_mirror(sources_dir: Path = Path("/etc/apt")) -> str:
    """The Debian mirror this machine's apt uses (one-line or deb822 sources), else deb.debian.org."""
    files = [sources_dir / "sources.list", *sorted((sources_dir / "sources.list.d").glob("*"))]
    for path in files:
        try:
            text = path.read_text()
        except OSError:
            continue
        for uri in re.findall(r"^\s*(?:deb\s+(?:\[[^\]]*\]\s+)?|URIs:\s*)(\S+)", text, re.MULTILINE):
            if uri.rstrip("/").endswith("/debian"):
                return uri.rstrip("/")
    return DEFAULT_MIRROR


def ensure_rootfs(
    suite: str = DEFAULT_SUITE,
    cache_root: Path = CACHE_ROOT,
    mirror: str | None = None,
    say: Callable[[str], None] = print,
) -> Path:
    """The cached image for `suite`, built first if missing (about a minute, once)."""
    target = rootfs_path(suite, cache_root)
    if target.is_dir():
        return target
    cache_root.mkdir(parents=True, exist_ok=True)
    with open(cache_root / f"{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a concurrent build of the same image: wait for it, then reuse it
        if target.is_dir():
            return target
        for stale in cache_root.glob(f".build-{target.name}-*"):  # left by a killed build; we hold the lock
            remove_tree(stale)
        build_dir = cache_root / f".build-{target.name}-{os.getpid()}"
        mirror = mirror or apt_mirror()
        say(f"lab: building the {suite} root file system from {mirror} (once; about a minute) ...")
        started = time.monotonic()
        try:
            _debootstrap(suite, build_dir, mirror, cache_root / f"{target.name}.build.log")
            _customize(build_dir)
            build_dir.rename(target)
        finally:
            remove_tree(build_dir)
        say(f"lab: root file system ready in {time.monotonic() - started:.0f} s: {target}")
    return target


def _debootstrap(suite: str, directory: Path, mirror: str, log_path: Path) -> None:
    argv = [
        "debootstrap",
        "--variant=minbase",
        f"--include={','.join(PACKAGES)}",
        suite,
        str(directory),
        mirror,
    ]
    with open(log_path, "w") as log:
        result = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    if result.returncode != 0:
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-15:])
        raise LabError(f"debootstrap {suite} failed (exit {result.returncode}; full log {log_path}):\n{tail}")


def _customize(root: Path) -> None:
    # systemd takes the hostname from /etc/hostname (debootstrap copies the build machine's): each host
    # gets its own in its overlay. Same for the machine id and the SSH host keys.
    for path in (root / "etc/hostname", root / "var/lib/dbus/machine-id"):
        path.unlink(missing_ok=True)
    (root / "etc/machine-id").write_text("")
    for key in (root / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    (root / "etc/ssh/sshd_config.d/syntraf-lab.conf").write_text(SSHD_CONFIG)
    (root / "root/.ssh").mkdir(mode=0o700, exist_ok=True)
    subprocess.run(
        ["systemctl", f"--root={root}", "mask", *MASKED_UNITS], check=True, capture_output=True, text=True
    )
    for cache in (root / "var/cache/apt/archives", root / "var/lib/apt/lists"):  # ~60 MB of .debs and indexes
        remove_tree(cache)
        (cache / "partial").mkdir(parents=True)
