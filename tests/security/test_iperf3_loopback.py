"""The generated material with the real iperf3 of this machine, on loopback: formats iperf3 accepts,
two generations of one user accepted at once (rotation), and refusals."""

from __future__ import annotations

import os
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


@pytest.fixture
def listener(rotating_material):
    root, _ = rotating_material
    port = _free_port()
    process = subprocess.Popen(
        [
            IPERF3,
            "-s",
            "-B",
            "127.0.0.1",
            "-p",
            str(port),
            "--rsa-private-key-path",
            str(root / "L/listener.pem"),
            "--authorized-users-path",
            str(root / "L/users.csv"),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        yield port
    finally:
        process.kill()
        process.wait()


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
        result = _client(listener, root, password)
        assert result.returncode == 0, result.stdout + result.stderr


def test_wrong_password_unknown_user_wrong_key_and_no_credentials_are_refused(listener, rotating_material):
    root, _ = rotating_material
    good = (root / "I/peers/L.password").read_text()
    attempts = {
        "wrong password": _client(listener, root, good[:-1] + ("A" if good[-1] != "A" else "B")),
        "unknown user": _client(listener, root, good, user="L"),
        "old public key": _client(listener, root, good, key="L.alt.pem"),
        "no credentials": _client(listener, root, None),
    }
    for what, result in attempts.items():
        assert result.returncode != 0, what
        assert "authorization failed" in result.stdout + result.stderr, what
