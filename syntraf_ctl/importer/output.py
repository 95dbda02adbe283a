"""Write an imported inventory to disk: all files or none, never over existing files unless forced."""

from __future__ import annotations

from pathlib import Path

from syntraf_probe.atomic_write import write_atomically

from syntraf_ctl.importer.inventory_layout import Inventory
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


def check_output(files: dict[str, str], directory: Path, force: bool) -> None:
    """Raise ConfigImportError, before anything is written, if `files` cannot all be written under
    `directory`: it or a parent is a file, a target is a directory, or a target exists (without `force`)."""
    if directory.exists() and not directory.is_dir():
        raise ConfigImportError(f"{directory} is a file: -o takes the inventory directory to write")
    existing = []
    for relative in files:
        path = directory / relative
        for parent in path.relative_to(directory).parents:
            if parent != Path(".") and (directory / parent).exists() and not (directory / parent).is_dir():
                raise ConfigImportError(f"{directory / parent} is a file where a directory is needed")
        if path.is_dir():
            raise ConfigImportError(f"{path} is a directory where the file is to be written")
        if path.exists():
            existing.append(str(path))
    if existing and not force:
        raise ConfigImportError(
            f"{directory}: would overwrite {', '.join(sorted(existing))}; use --force to replace them"
        )


def write_inventory(files: dict[str, str], secret_files: set[str], directory: Path) -> list[Path]:
    """Write `files` under `directory` (`secret_files` readable by the owner only); `check_output` first."""
    for relative, text in files.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, text.encode("utf-8"), 0o600 if relative in secret_files else 0o644)
    return [directory / relative for relative in files]
