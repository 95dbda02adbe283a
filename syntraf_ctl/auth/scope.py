"""What each host receives: only the material its own edges need (docs/security.md, "material model").

- As a listener L: its own private key, and a users file with one line per initiator that connects to L
  (the hash of that initiator's password towards L, for each generation L accepts).
- As an initiator I: for each listener L it connects to, L's public key and I's password towards L.
No host receives a seed, another host's private key, or a password that another listener accepts.

Rotation (syntraf_ctl.auth.store): outside a rotation everything is the active generation. In the `accept`
phase listeners also accept the new generation's passwords (iperf3 re-reads the users file at every
connection, so nothing restarts), and initiators get the new public key as `<L>.alt.pem`. In the `switch`
phase listeners hold the new private key (their iperf3 restarts between two tests) and initiators use the
new passwords and public keys, the old key being `<L>.alt.pem`. An initiator refused by a listener tries the
other key at once (the probe's keys.py), so whichever key a listener's iperf3 holds at a given moment, and
in whichever order Ansible reaches the hosts, a test authenticates. Finishing the rotation removes the old
generation everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable

from syntraf_probe.config import Auth

from syntraf_ctl.assets import host_layout
from syntraf_ctl.auth.material import pair_password, users_file
from syntraf_ctl.auth.store import AuthStore

PRIVATE_KEY = "listener.pem"
USERS_FILE = "users.csv"
PEERS_DIR = "peers"


def username(initiator: str) -> str:
    """The iperf3 username of an initiating host: its uid (no whitespace, no comma; not a secret)."""
    return initiator


def key_generation(store: AuthStore) -> int:
    """The generation whose key pair listeners hold and initiators encrypt with."""
    return store.rotation.to if store.rotation and store.rotation.phase == "switch" else store.active


def accepted_generations(store: AuthStore) -> list[int]:
    return store.live


def host_files(store: AuthStore, pairs: Iterable[tuple[str, str]], uid: str) -> dict[str, str]:
    """Files of host `uid` under its auth directory (relative path -> content), for the (listener,
    initiator) pairs of the plan's edges."""
    pairs = set(pairs)
    current = key_generation(store)
    files: dict[str, str] = {}
    initiators = sorted({initiator for listener, initiator in pairs if listener == uid})
    if initiators:
        files[PRIVATE_KEY] = store.material(current, uid).private_key
        entries = [
            (username(initiator), pair_password(store.material(number, initiator).seed, uid))
            for number in accepted_generations(store)
            for initiator in initiators
        ]
        files[USERS_FILE] = users_file(entries, f"iperf3 users accepted by {uid}; written by syntraf-ctl")
    other = [number for number in store.live if number != current]
    for listener in sorted({listener for listener, initiator in pairs if initiator == uid}):
        files[f"{PEERS_DIR}/{listener}.pem"] = store.material(current, listener).public_key
        files[f"{PEERS_DIR}/{listener}.password"] = pair_password(store.material(current, uid).seed, listener)
        for number in other:
            files[f"{PEERS_DIR}/{listener}.alt.pem"] = store.material(number, listener).public_key
    return files


def probe_auth(uid: str, enabled: bool, time_skew_threshold: int) -> Auth | None:
    """The `auth` of a host's probe config (docs/probe-config.md): paths only, never a secret."""
    if not enabled:
        return None
    auth_dir = host_layout().auth_dir
    return Auth(
        time_skew_threshold=time_skew_threshold,
        private_key_path=f"{auth_dir}/{PRIVATE_KEY}",
        authorized_users_path=f"{auth_dir}/{USERS_FILE}",
        username=username(uid),
        public_keys_dir=f"{auth_dir}/{PEERS_DIR}",
    )
