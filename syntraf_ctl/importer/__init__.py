"""Import a SYNTRAF TOML config as a syntraf Ansible inventory.

The core (`convert`) is pure: TOML text in, file texts and migration notes out. `write_inventory` in
`syntraf_ctl.importer.output` is the only part that touches the disk.
"""

from __future__ import annotations

from syntraf_ctl.importer.config import read_config
from syntraf_ctl.importer.inventory_layout import Inventory, build_inventory
from syntraf_ctl.importer.values import ConfigImportError

__all__ = ["ConfigImportError", "Inventory", "convert"]


def convert(text: str, source: str) -> Inventory:
    """The inventory for SYNTRAF config `text` read from `source`; ConfigImportError names what is wrong."""
    config, notes = read_config(text, source)  # its errors name the source already
    try:
        return build_inventory(config, notes, source)
    except ConfigImportError as error:
        raise ConfigImportError(f"{source}: {error}") from None
