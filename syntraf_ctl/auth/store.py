"""The store of iperf3 authentication material, beside the inventory: `<inventory dir>/.syntraf-secrets/`.

One YAML file, `iperf3-auth.yml`, mode 0600 in a 0700 directory, vault-encrypted when syntraf-ctl is given
--vault-password-file (or by the operator: `ansible-vault encrypt .syntraf-secrets/iperf3-auth.yml`). The
directory name starts with a dot because Ansible skips dot entries of an inventory directory; otherwise it
would try to read the file as an inventory source.

It holds one or two generations of material per host. Outside a rotation only `active` exists; during one,
`rotation` names the generation being introduced and the phase reached (see syntraf_ctl.auth.scope).
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import yaml
from syntraf_probe.atomic_write import write_atomically

from syntraf_ctl.auth.material import HostMaterial, new_host_material

STORE_DIR = ".syntraf-secrets"
STORE_FILE = "iperf3-auth.yml"
STORE_SCHEMA = 1
PHASES = ("accept", "switch")
_GIT_IGNORE = "# written by syntraf-ctl: the store here holds private keys in clear, never commit it\n*\n"
_HEADER = (
    "# syntraf-ctl iperf3 authentication material (private keys and password seeds): keep it secret.\n"
    "# Encrypt it: `ansible-vault encrypt FILE`, then pass --vault-password-file to syntraf-ctl.\n"
)


class StoreError(Exception):
    """The store cannot be read or written; the message names the file and what is wrong."""


@dataclass
class Generation:
    created: str
    hosts: dict[str, HostMaterial] = field(default_factory=dict)


@dataclass
class Rotation:
    to: int  # the generation being introduced
    phase: (
        str  # "accept": listeners accept it too; "switch": everyone uses it, listeners still accept the old
    )


@dataclass
class AuthStore:
    active: int
    generations: dict[int, Generation]
    rotation: Rotation | None = None

    @property
    def live(self) -> list[int]:
        """Generations in use: the active one, and the one a rotation introduces."""
        return [self.active] + ([self.rotation.to] if self.rotation else [])

    def material(self, generation: int, uid: str) -> HostMaterial:
        return self.generations[generation].hosts[uid]


def store_path(inventory_directory: str) -> str:
    return os.path.join(inventory_directory, STORE_DIR, STORE_FILE)


def host_files_path(name: str) -> str:
    """Where a host's iperf3 key files (what the role installs) are kept, relative to the inventory
    directory: beside the store, under the same protection (vault, or git-ignored)."""
    return f"{STORE_DIR}/hosts/{name}.yml"


def empty_store() -> AuthStore:
    return AuthStore(1, {1: Generation(_now())})


def ensure_hosts(store: AuthStore, uids: Iterable[str]) -> tuple[list[str], list[str]]:
    """Give every host of `uids` material in every live generation; drop hosts no longer planned.

    Returns (added, removed) uids, sorted. A removed host's keys and seeds are forgotten: if it comes back,
    it gets new ones.
    """
    wanted = {str(uid) for uid in uids}  # plain str: inventory names may be str subclasses
    added: set[str] = set()
    removed: set[str] = set()
    for number in store.live:
        hosts = store.generations[number].hosts
        for uid in sorted(wanted - set(hosts)):
            hosts[uid] = new_host_material()
            added.add(uid)
        for uid in sorted(set(hosts) - wanted):
            del hosts[uid]
            removed.add(uid)
    return sorted(added), sorted(removed)


def begin_rotation(store: AuthStore) -> None:
    """Phase 1: a new generation for every host, accepted by listeners alongside the active one."""
    if store.rotation is not None:
        raise StoreError(f"a rotation to generation {store.rotation.to} is already in progress")
    number = max(store.generations) + 1
    hosts = {uid: new_host_material() for uid in sorted(store.generations[store.active].hosts)}
    store.generations[number] = Generation(_now(), hosts)
    store.rotation = Rotation(number, "accept")


def switch_rotation(store: AuthStore) -> None:
    """Phase 2: initiators and listeners use the new generation; listeners still accept the old one."""
    if store.rotation is None or store.rotation.phase != "accept":
        raise StoreError("no rotation in its accept phase to switch")
    store.rotation.phase = "switch"


def finish_rotation(store: AuthStore) -> None:
    """Phase 3: the new generation becomes the active one and the old material is deleted."""
    if store.rotation is None or store.rotation.phase != "switch":
        raise StoreError("no rotation in its switch phase to finish")
    old = store.active
    store.active = store.rotation.to
    store.rotation = None
    del store.generations[old]


# --- text form -------------------------------------------------------------------------------------------


def format_store(store: AuthStore) -> str:
    content = {
        "schema": STORE_SCHEMA,
        "active": store.active,
        "rotation": None
        if store.rotation is None
        else {"to": store.rotation.to, "phase": store.rotation.phase},
        "generations": {
            number: {
                "created": generation.created,
                "hosts": {
                    uid: {"seed": m.seed, "private_key": m.private_key, "public_key": m.public_key}
                    for uid, m in sorted(generation.hosts.items())
                },
            }
            for number, generation in sorted(store.generations.items())
        },
    }
    return _HEADER + yaml.dump(content, Dumper=_BlockDumper, sort_keys=False, default_flow_style=False)


def parse_store(text: str, source: str) -> AuthStore:
    """The store in `text` (read from `source`, named in errors)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise StoreError(f"{source}: not valid YAML: {error}") from None
    if not isinstance(data, dict) or data.get("schema") != STORE_SCHEMA:
        raise StoreError(f"{source}: not a schema {STORE_SCHEMA} syntraf iperf3 authentication store")
    try:
        generations = {
            int(number): Generation(
                str(entry["created"]),
                {
                    str(uid): HostMaterial(m["seed"], m["private_key"], m["public_key"])
                    for uid, m in entry["hosts"].items()
                },
            )
            for number, entry in data["generations"].items()
        }
        rotation = data.get("rotation")
        store = AuthStore(
            int(data["active"]),
            generations,
            None if rotation is None else Rotation(int(rotation["to"]), str(rotation["phase"])),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise StoreError(f"{source}: malformed entry ({type(error).__name__}: {error})") from None
    missing = [number for number in store.live if number not in generations]
    if missing or (store.rotation and store.rotation.phase not in PHASES):
        raise StoreError(
            f"{source}: inconsistent rotation state (generations {missing} missing or bad phase)"
        )
    return store


# --- files -----------------------------------------------------------------------------------------------


def load_store(path: str, vault_password_file: str | None = None) -> AuthStore | None:
    """The store at `path`, decrypted with the vault password if it is encrypted; None if there is none."""
    text = read_private(path, vault_password_file)
    return None if text is None else parse_store(text, path)


def save_store(store: AuthStore, path: str, vault_password_file: str | None = None) -> None:
    """Write the store atomically, mode 0600 in a 0700 directory; vault-encrypted when a password is given."""
    write_private(path, format_store(store), vault_password_file)


def read_private(path: str, vault_password_file: str | None = None) -> str | None:
    """A file written by write_private, decrypted if it is encrypted; None if there is none."""
    try:
        with open(path, "rb") as stream:
            raw = stream.read()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise StoreError(f"{path}: cannot read: {error.strerror}") from None
    from ansible.parsing.vault import is_encrypted

    if is_encrypted(raw):
        if not vault_password_file:
            raise StoreError(f"{path} is vault-encrypted: give --vault-password-file")
        from ansible.errors import AnsibleError

        try:
            raw = _vault(vault_password_file).decrypt(raw)
        except AnsibleError as error:
            raise StoreError(f"{path}: cannot decrypt with the given vault password: {error}") from None
    return raw.decode("utf-8")


def write_private(path: str, text: str, vault_password_file: str | None = None) -> None:
    """Write `text` atomically, mode 0600 in a 0700 directory; vault-encrypted when a password is given."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, mode=0o700, exist_ok=True)
    os.chmod(directory, 0o700)
    data = text.encode("utf-8")
    if vault_password_file:
        data = _vault(vault_password_file).encrypt(data)
    write_atomically(path, data, mode=0o600)


def ignore_in_git(path: str) -> None:
    """Make git ignore the store's directory (a `.gitignore` in it that ignores everything, itself too)."""
    ignore = os.path.join(os.path.dirname(path), ".gitignore")
    if not os.path.exists(ignore):
        with open(ignore, "w", encoding="utf-8") as stream:
            stream.write(_GIT_IGNORE)


def forget_git_ignore(path: str) -> None:
    """An encrypted store may be committed: remove the `.gitignore` ignore_in_git wrote (only that one)."""
    ignore = os.path.join(os.path.dirname(path), ".gitignore")
    try:
        with open(ignore, encoding="utf-8") as stream:
            ours = stream.read() == _GIT_IGNORE
    except OSError:
        return
    if ours:
        os.unlink(ignore)


def is_encrypted_file(path: str) -> bool:
    from ansible.parsing.vault import is_encrypted_file as encrypted

    with open(path, "rb") as stream:
        return encrypted(stream)


def _vault(vault_password_file: str) -> Any:
    from ansible.parsing.dataloader import DataLoader
    from ansible.parsing.vault import VaultLib, get_file_vault_secret

    secret = get_file_vault_secret(filename=vault_password_file, vault_id="default", loader=DataLoader())
    secret.load()
    return VaultLib([("default", secret)])


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class _BlockDumper(yaml.SafeDumper):
    """PEM keys as `|` blocks, so the file stays readable (and diffable once decrypted)."""


def _str_representer(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _str_representer)
