"""Before render and apply: every host that authenticates has material in the store beside the inventory.

The store never sits where `git add -A` would commit private keys in clear: with a vault password it is
encrypted (and may be committed); without one, a `.gitignore` in its directory keeps it out of git.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import yaml

from syntraf_ctl.auth.scope import host_files
from syntraf_ctl.auth.store import (
    AuthStore,
    StoreError,
    empty_store,
    ensure_hosts,
    forget_git_ignore,
    host_files_path,
    ignore_in_git,
    is_encrypted_file,
    load_store,
    read_private,
    save_store,
    store_path,
    write_private,
)
from syntraf_ctl.messages import name_list
from syntraf_ctl.problems import display_path


def prepare_material(plan: Any, vault_password_file: str | None) -> list[str]:
    """Create or complete the store for the plan's hosts; return what to tell the user. Raises StoreError.

    The store is (re)written encrypted whenever a vault password is given, so an operator who starts
    vaulting the inventory gets an encrypted store on the next run.
    """
    path = store_path(os.path.dirname(plan.lock_path))
    existing = load_store(path, vault_password_file)
    store = existing or empty_store()
    added, removed = ensure_hosts(store, authenticating_hosts(plan))
    notes = []
    encrypted = existing is not None and is_encrypted_file(path)
    if added or removed or (existing is not None and vault_password_file and not encrypted):
        save_store(store, path, vault_password_file)
        encrypted = bool(vault_password_file)
        if added:
            notes.append(f"new iperf3 authentication material for {name_list(added)} in {display_path(path)}")
    write_host_files(plan, store, os.path.dirname(plan.lock_path), vault_password_file)
    if encrypted:
        forget_git_ignore(path)
    elif store.generations[store.active].hosts:
        ignore_in_git(path)
        notes.append(
            f"warning: {display_path(path)} holds private keys unencrypted (mode 0600), so git ignores it "
            f"({display_path(os.path.dirname(path))}/.gitignore): encrypt it with "
            f"`ansible-vault encrypt {display_path(path)}` and pass --vault-password-file to keep it in git"
        )
    return notes


def write_host_files(plan: Any, store: AuthStore, base: str, vault_password_file: str | None) -> None:
    """Write each authenticating host's iperf3 key files (name -> content, what the role installs under
    the host's auth directory) to `base`/host_files_path(host), and delete those of other hosts. A file whose
    content did not change is left alone (an encrypted one would differ at every write), unless it is to be
    encrypted and is not yet."""
    pairs = {(edge.listener, edge.initiator) for edge in plan.edges}
    wanted = {}
    for uid in authenticating_hosts(plan):
        name = plan.model.hosts[uid].name
        text = yaml.safe_dump(host_files(store, pairs, uid), default_style="|", sort_keys=True)
        wanted[os.path.join(base, host_files_path(name))] = text
    for path, text in wanted.items():
        stale = read_private(path, vault_password_file) != text
        if stale or (vault_password_file and not is_encrypted_file(path)):
            write_private(path, text, vault_password_file)
    directory = os.path.dirname(os.path.join(base, host_files_path("x")))
    for name in os.listdir(directory) if os.path.isdir(directory) else []:
        path = os.path.join(directory, name)
        if path not in wanted:
            os.unlink(path)


def authenticating_hosts(plan: Any) -> list[str]:
    """uids of the hosts in an enabled mesh group that use iperf3 authentication."""
    planned = plan.host_groups()
    return [uid for uid, host in plan.model.hosts.items() if host.auth and uid in planned]


def material_destruction(plan: Any, vault_password_file: str | None) -> list[str]:
    """Why preparing the material for `plan` needs --allow-destroy: it would delete the material of more
    than half of the hosts the store holds. Raises StoreError."""
    path = store_path(os.path.dirname(plan.lock_path))
    store = load_store(path, vault_password_file)
    held = set(store.generations[store.active].hosts) if store else set()
    removed = sorted(held - set(authenticating_hosts(plan)))
    if len(removed) * 2 <= len(held):
        return []
    return [
        f"deletes the iperf3 key material of {name_list(removed)} ({len(removed)} of the {len(held)} hosts "
        f"{display_path(path)} holds, more than half)"
    ]


def announce_material(plan: Any, vault_password_file: str | None) -> None:
    """prepare_material, its notes on stderr. Raises StoreError (an OSError included)."""
    try:
        notes = prepare_material(plan, vault_password_file)
    except OSError as error:
        raise StoreError(str(error)) from None
    for note in notes:
        print(note, file=sys.stderr)


def prepare_or_report(plan: Any, vault_password_file: str | None) -> bool:
    """announce_material for the commands: False (and why, on stderr) when the store is unusable."""
    try:
        announce_material(plan, vault_password_file)
    except StoreError as error:
        print(f"syntraf-ctl: iperf3 authentication material: {error}", file=sys.stderr)
        return False
    return True


def material_for_check(plan: Any, vault_password_file: str | None, directory: str) -> str:
    """For `apply --check`: the hosts' key files the real apply would install, written under `directory`
    (the run's private temporary directory, deleted afterwards), which is returned as the base the role
    reads them from. Nothing beside the inventory is written. Raises StoreError."""
    path = store_path(os.path.dirname(plan.lock_path))
    store = load_store(path, vault_password_file) or empty_store()
    ensure_hosts(store, authenticating_hosts(plan))
    write_host_files(plan, store, directory, None)
    return directory
