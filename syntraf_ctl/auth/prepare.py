"""Before render and apply: every host that authenticates has material in the store beside the inventory.

The store never sits where `git add -A` would commit private keys in clear: with a vault password it is
encrypted (and may be committed); without one, a `.gitignore` in its directory keeps it out of git.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from syntraf_ctl.auth.store import (
    StoreError,
    empty_store,
    ensure_hosts,
    forget_git_ignore,
    ignore_in_git,
    is_encrypted_file,
    load_store,
    save_store,
    store_path,
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


def material_for_check(plan: Any, vault_password_file: str | None, directory: str) -> str | None:
    """For `apply --check`: the store the real apply would use, written into `directory` (the run's private
    temporary directory, deleted afterwards) when the one beside the inventory lacks hosts; None when that
    one will do. Nothing beside the inventory is written. Raises StoreError."""
    path = store_path(os.path.dirname(plan.lock_path))
    store = load_store(path, vault_password_file) or empty_store()
    added, removed = ensure_hosts(store, authenticating_hosts(plan))
    if not added and not removed:
        return None
    check_path = os.path.join(directory, "iperf3-auth.yml")
    save_store(store, check_path, vault_password_file)
    return check_path
