"""Which iperf3 versions can authenticate to each other, and who needs --use-pkcs1-padding
(reference/iperf3.md §5, checked with Debian 12's 3.12 and Debian 13's 3.18).

- iperf3 3.17 switched the RSA padding of the credentials from PKCS#1 v1.5 to OAEP.
- `--use-pkcs1-padding` (3.17+) makes a newer side use the old padding. 3.17-3.19 accept it on both sides;
  from 3.20 it is a server-only option.
- So an older initiator reaches a newer listener if the listener pads with PKCS#1; a 3.17-3.19 initiator
  reaches an older listener if the initiator does; a 3.20+ initiator cannot reach a listener older than 3.17.
- Authentication needs `IPERF3_PASSWORD` (3.7+) to pass the password without a terminal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

Version = tuple[int, int]

OAEP_SINCE = (3, 17)
PKCS1_SERVER_ONLY_SINCE = (3, 20)
AUTH_SINCE = (3, 7)


@dataclass(frozen=True)
class PairAuth:
    """How an initiator authenticates to a listener: `pkcs1_side` is "listener", "initiator" or None;
    `problem` says why it cannot work at all (then pkcs1_side is None)."""

    pkcs1_side: str | None = None
    problem: str | None = None

    @property
    def pkcs1_padding(self) -> bool:
        return self.pkcs1_side is not None


def parse_version(text: str) -> Version:
    """`3.12`, `3.18.1`, `iperf 3.12 (cJSON 1.7.15)` -> (major, minor); ValueError if there is none."""
    match = re.search(r"(\d+)\.(\d+)", str(text))
    if not match:
        raise ValueError(f"expected an iperf3 version like 3.12, got {text!r}")
    return int(match.group(1)), int(match.group(2))


def pair_auth(listener: Version, initiator: Version) -> PairAuth:
    """The rule for one initiator -> listener connection (pure)."""
    for side, version in (("listener", listener), ("initiator", initiator)):
        if version < AUTH_SINCE:
            return PairAuth(
                problem=f"the {side} runs iperf3 {_show(version)}, "
                f"authentication needs {_show(AUTH_SINCE)} or later"
            )
    if (listener >= OAEP_SINCE) == (initiator >= OAEP_SINCE):
        return PairAuth()
    if listener >= OAEP_SINCE:
        return PairAuth(pkcs1_side="listener")
    if initiator < PKCS1_SERVER_ONLY_SINCE:
        return PairAuth(pkcs1_side="initiator")
    return PairAuth(
        problem=(
            f"the initiator's iperf3 {_show(initiator)} encrypts credentials with OAEP only "
            f"(--use-pkcs1-padding is server-only since {_show(PKCS1_SERVER_ONLY_SINCE)}) and the listener's "
            f"iperf3 {_show(listener)} decrypts PKCS#1 v1.5 only: "
            f"upgrade the listener to {_show(OAEP_SINCE)} or later"
        )
    )


def _show(version: Version) -> str:
    return f"{version[0]}.{version[1]}"
