"""The generated material with the real iperf3 of this machine, on loopback: formats iperf3 accepts,
two generations of one user accepted at once (rotation), and refusals."""

from __future__ import annotations

import os
import select
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from syntraf_ctl.auth import store as auth_store
from syntraf_ctl.auth.scope import host_files

IPERF3 = shutil.which("iperf3")
pytestmark = pytest.mark.skipif(IPERF3 is None, reason="iperf3 is not installed")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def rotating_material(tmp_path):
    """Files of listener L and initiator I in the accept phase of a rotation, written out as on hosts."""
    store = auth_store.empty_store()
    auth_store.ensure_hosts(store, ["L", "I"])
    old_password = host_files(store, {("L", "I")}, "I")["peers/L.password"]
    auth_store.begin_rotation(store)
    auth_store.switch_rotation(store)  # the new generation's password, the old one still accepted
    for uid in ("L", "I"):
        for relative, content in host_files(store, {("L", "I")}, uid).items():
            path = tmp_path / uid / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
            path.chmod(0o600)
    return tmp_path, old_password


class Listener:
    """iperf3 -s on loopback, and what it prints (--forceflush: line by line, as it happens).

    iperf3 3.12 closes its listening socket at the end of every test, refused ones included, and listens
    anew for the next (cleanup_server(), then iperf_server_listen(), which prints "Server listening on
    PORT (test #N)"). A client that connects before that announcement reaches the old socket's backlog and
    is reset when the socket closes ("unable to receive control message: Connection reset by peer"), or
    finds no socket at all ("Connection refused"). So each test waits for the announcement of test #N before
    starting its N-th client, and never probes the port with a connection of its own (that would be a test).
    """

    def __init__(self, argv: list[str], port: int) -> None:
        self.port = port
        self.process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        self.output = b""
        self.tests = 0  # clients started

    def wait_for(self, text: str, timeout: float = 10.0) -> None:
        """Read the listener's output until `text` appears in it (the timeout only bounds a failure)."""
        deadline = time.monotonic() + timeout
        while text.encode() not in self.output:
            remaining = deadline - time.monotonic()
            ready, _, _ = select.select([self.process.stdout], [], [], max(remaining, 0))
            chunk = os.read(self.process.stdout.fileno(), 4096) if ready else b""
            if not chunk:
                raise AssertionError(f"iperf3 -s never printed {text!r}; it printed:\n{self.output.decode()}")
            self.output += chunk

    def next_test(self) -> int:
        """Wait until the listener listens for the next test; return the port."""
        self.tests += 1
        self.wait_for(f"Server listening on {self.port} (test #{self.tests})")
        return self.port

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()
        self.process.stdout.close()


@pytest.fixture
def listener(rotating_material):
    root, _ = rotating_material
    port = _free_port()
    server = Listener(
        [
            IPERF3,
            "-s",
            "--forceflush",
            "-B",
            "127.0.0.1",
            "-p",
            str(port),
            "--rsa-private-key-path",
            str(root / "L/listener.pem"),
            "--authorized-users-path",
            str(root / "L/users.csv"),
        ],
        port,
    )
    try:
        yield server
    finally:
        server.stop()


def _client(port: int, root: Path, password: str | None, key: str = "L.pem", user: str = "I"):
    env = {k: v for k, v in os.environ.items() if k != "IPERF3_PASSWORD"}
    argv = [IPERF3, "-c", "127.0.0.1", "-p", str(port), "-u", "-b", "100k", "-l", "32", "-t", "1"]
    if password is not None:
        env["IPERF3_PASSWORD"] = password
        argv += ["--username", user, "--rsa-public-key-path", str(root / "I/peers" / key)]
    return subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=20)


def test_new_and_old_generation_passwords_both_authenticate(listener, rotating_material):
    root, old_password = rotating_material
    new_password = (root / "I/peers/L.password").read_text()
    assert new_password != old_password
    for password in (new_password, old_password):
        result = _client(listener.next_test(), root, password)
        assert result.returncode == 0, result.stdout + result.stderr


def test_wrong_password_unknown_user_wrong_key_and_no_credentials_are_refused(listener, rotating_material):
    root, _ = rotating_material
    good = (root / "I/peers/L.password").read_text()
    attempts = {
        "wrong password": lambda port: _client(port, root, good[:-1] + ("A" if good[-1] != "A" else "B")),
        "unknown user": lambda port: _client(port, root, good, user="L"),
        "old public key": lambda port: _client(port, root, good, key="L.alt.pem"),
        "no credentials": lambda port: _client(port, root, None),
    }
    for number, (what, attempt) in enumerate(attempts.items(), start=1):
        result = attempt(listener.next_test())
        assert result.returncode != 0, what
        assert "authorization failed" in result.stdout + result.stderr, (what, result.stdout + result.stderr)
        # the listener's side: it refused this very test (its error line comes before its next announcement)
        listener.wait_for(f"Server listening on {listener.port} (test #{number + 1})")
        assert listener.output.count(b"error - test authorization failed") == number, what
