"""Before render and apply: every host that authenticates has material in the store beside the inventory."""

from __future__ import annotations

import os
import sys
from typing import Any

from syntraf_ctl.auth.store import (
    StoreError,
    empty_store,
    ensure_hosts,
    is_encrypted_file,
    load_store,
    save_store,
    store_path,
)
from syntraf_ctl.problems import display_path


def prepare_material(plan: Any, vault_password_file: str | None) -> list[str]:
    """Create or complete the store for the plan's hosts; return what to tell the user. Raises StoreError.

    The store is (re)written encrypted whenever a vault password is given, so an operator who starts
    vaulting the inventory gets an encrypted store on the next run.
    """
    path = store_path(os.path.dirname(plan.lock_path))
    existing = load_store(path, vault_password_file)
    store = existing or empty_store()
    planned = plan.host_groups()
    added, removed = ensure_hosts(
        store, [uid for uid, host in plan.model.hosts.items() if host.auth and uid in planned]
    )
    notes = []
    encrypted = existing is not None and is_encrypted_file(path)
    if added or removed or (existing is not None and vault_password_file and not encrypted):
        save_store(store, path, vault_password_file)
        encrypted = bool(vault_password_file)
        if added:
            notes.append(f"new iperf3 authentication material for {', '.join(added)} in {display_path(path)}")
    if not encrypted and store.generations[store.active].hosts:
        notes.append(
            f"warning: {display_path(path)} holds private keys unencrypted (mode 0600): encrypt it with "
            f"`ansible-vault encrypt {display_path(path)}` and pass --vault-password-file"
        )
    return notes


def prepare_or_report(plan: Any, vault_password_file: str | None) -> bool:
    """prepare_material for the commands: notes and errors to stderr; False when the store is unusable."""
    try:
        notes = prepare_material(plan, vault_password_file)
    except (StoreError, OSError) as error:
        print(f"syntraf-ctl: iperf3 authentication material: {error}", file=sys.stderr)
        return False
    for note in notes:
        print(note, file=sys.stderr)
    return True
