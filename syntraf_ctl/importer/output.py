"""Write an imported inventory to disk: all files or none, never over existing files unless forced."""

from __future__ import annotations

import os
from pathlib import Path

from syntraf_ctl.importer.inventory import Inventory
from syntraf_ctl.importer.values import ConfigImportError


def encrypt_secret_files(inventory: Inventory, vault_password_file: Path) -> dict[str, str]:
    """The inventory's files, the secret ones encrypted with ansible-vault."""
    from ansible.parsing.dataloader import DataLoader
    from ansible.parsing.vault import VaultLib, get_file_vault_secret

    try:
        secret = get_file_vault_secret(filename=str(vault_password_file), loader=DataLoader())
        secret.load()
    except Exception as exc:  # ansible raises several types for unreadable or empty password files
        raise ConfigImportError(f"{vault_password_file}: cannot read the vault password: {exc}") from None
    vault = VaultLib([("default", secret)])
    return {
        path: vault.encrypt(text).decode() if path in inventory.secret_files else text
        for path, text in inventory.files.items()
    }


def write_inventory(
    files: dict[str, str], secret_files: set[str], directory: Path, force: bool
) -> list[Path]:
    """Write `files` under `directory` (`secret_files` readable by the owner only); refuse, writing nothing,
    if any exists and `force` is false."""
    targets = {directory / relative: text for relative, text in files.items()}
    existing = sorted(str(path) for path in targets if path.exists())
    if existing and not force:
        raise ConfigImportError(
            f"{directory}: would overwrite {', '.join(existing)}; use --force to replace them"
        )
    for relative, text in files.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        temporary.write_text(text, encoding="utf-8")
        temporary.chmod(0o600 if relative in secret_files else 0o644)
        temporary.replace(path)
    return list(targets)
