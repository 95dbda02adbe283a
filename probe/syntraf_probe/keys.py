"""iperf3 key files during a key rotation (docs/security.md, "rotation").

While syntraf-ctl rotate-keys changes generations, an initiator holds two public keys of listener L:
`<L>.pem` (the one L should hold) and `<L>.alt.pem` (the other generation's), because L's iperf3 keeps the
private key it started with until it restarts, which it does only between two tests, and because Ansible
reaches hosts in any order. So an initiator whose credentials L refuses tries the other key at once, and
pauses briefly between tests so L can restart in between. A listener restarts its iperf3 when its private
key file was replaced, as soon as no test is running: when iperf3 says it waits for a client, or when it
has been silent for two intervals (a running test prints a line every interval; 3.12 may hold back its
first lines for up to an interval, so its "Accepted connection" line cannot be relied upon).
"""

from __future__ import annotations

import os
from typing import Optional

from .config import Auth

# seconds between two tests while a rotation is in progress: a listener restarts in about 20 ms
ROTATION_PAUSE = 0.25


def public_key_path(auth: Auth, listener: str, alternate: bool = False) -> str:
    return os.path.join(auth.public_keys_dir, f"{listener}{'.alt' if alternate else ''}.pem")


def rotating(auth: Optional[Auth], listener: str) -> bool:
    """Whether a rotation is in progress for `listener`: a second public key is beside its key."""
    return auth is not None and os.path.exists(public_key_path(auth, listener, alternate=True))


def refused(message: Optional[str]) -> bool:
    """iperf3's message for a wrong key, password or user, and for clock skew."""
    return "authorization failed" in (message or "").lower()


def listener_idle(line: str) -> bool:
    """A listener's iperf3 waits for its next client: the test before is completely over (its client sent
    IPERF_DONE), so restarting it now cuts no test. Text mode (3.12): "Server listening on ...";
    --json-stream (3.17+): the "end" event, written once the test is closed."""
    return line.startswith("Server listening on") or line.startswith('{"event":"end"')


def file_stamp(path: str) -> Optional[tuple]:
    """Identity of a file's content as replaced by Ansible (a rename: new inode), None if missing."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return (stat.st_ino, stat.st_mtime_ns, stat.st_size)
