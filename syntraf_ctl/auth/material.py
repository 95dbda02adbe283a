"""Generating iperf3 authentication material and the files iperf3 reads (reference/iperf3.md §5).

- A listening host has one RSA-2048 key pair: iperf3 -s reads the private key (PKCS#8, unencrypted PEM: an
  encrypted key makes iperf3 prompt on a tty); initiators encrypt their credentials with the public key
  (SubjectPublicKeyInfo PEM).
- An initiating host has one random seed per generation. Its password towards listener L is derived from
  the seed and L's uid, so every (initiator, listener) pair has its own password: a listener decrypts the
  passwords sent to it, and a compromised listener must not learn a password that other listeners accept.
  The seed itself never leaves the controller.
- The users file iperf3 -s checks holds `user,sha256("{user}password")` in lowercase hex, one line each.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

RSA_BITS = 2048
SEED_BYTES = 32
PASSWORD_CHARS = 43  # the unpadded URL-safe base64 of a 256-bit HMAC: no whitespace, no comma
_PASSWORD_CONTEXT = b"syntraf iperf3 password v1\0"


@dataclass(frozen=True)
class HostMaterial:
    """One host's material of one generation: its key pair (as a listener) and its seed (as an initiator)."""

    seed: str  # URL-safe base64 of SEED_BYTES random bytes
    private_key: str  # PKCS#8 PEM, unencrypted
    public_key: str  # SubjectPublicKeyInfo PEM

    def __repr__(self) -> str:
        # never print a secret, not even in a traceback or a test failure
        return f"HostMaterial(public_key_sha256={fingerprint(self.public_key)})"


def new_host_material() -> HostMaterial:
    """Fresh material from the operating system's cryptographically secure generator."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    seed = base64.urlsafe_b64encode(secrets.token_bytes(SEED_BYTES)).decode("ascii")
    return HostMaterial(seed, private_pem.decode("ascii"), public_pem.decode("ascii"))


def pair_password(seed: str, listener: str) -> str:
    """The password an initiator with `seed` presents to `listener`: HMAC-SHA256, URL-safe base64."""
    digest = hmac.new(base64.urlsafe_b64decode(seed), _PASSWORD_CONTEXT + listener.encode("utf-8"), "sha256")
    return base64.urlsafe_b64encode(digest.digest()).decode("ascii").rstrip("=")


def password_hash(username: str, password: str) -> str:
    """What iperf3's users file stores: lowercase hex sha256 of `{username}password`."""
    return hashlib.sha256(f"{{{username}}}{password}".encode()).hexdigest()


def users_file(entries: list[tuple[str, str]], comment: str) -> str:
    """An iperf3 authorized-users file: a comment line, then `user,hash` per (user, password) entry.

    A user may appear twice (two generations during a rotation): iperf3 accepts any line that matches.
    """
    lines = [f"# {comment}"] + [f"{user},{password_hash(user, password)}" for user, password in entries]
    return "\n".join(lines) + "\n"


def fingerprint(public_pem: str) -> str:
    """First 16 hex digits of the SHA-256 of the DER public key: names a key in messages, reveals nothing."""
    key = serialization.load_pem_public_key(public_pem.encode("ascii"))
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()[:16]
