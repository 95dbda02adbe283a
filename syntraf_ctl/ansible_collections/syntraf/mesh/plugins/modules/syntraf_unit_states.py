#!/usr/bin/python
"""Ansible module: say which of the given systemd units are not both enabled and active (read-only)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: syntraf_unit_states
short_description: List the units that are not enabled and active, in one systemctl call
description:
  - One module run for all of a host's syntraf units, so that a deploy that changes nothing runs no
    per-unit task; the role then enables and starts only the units listed here (with
    ansible.builtin.systemd_service, which decides what to change). Changes nothing.
options:
  units:
    description: The unit names to look at.
    type: list
    elements: str
    required: true
author: syntraf
"""

RETURN = r"""
to_start: {description: the units not both enabled and active, in order, type: list, returned: always}
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402 (Ansible modules put their documentation first)


def parse_show(output):
    """`systemctl show -p Id,ActiveState,UnitFileState` output -> {unit: {property: value}}."""
    units = {}
    for block in output.strip().split("\n\n"):
        properties = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        if "Id" in properties:
            units[properties["Id"]] = properties
    return units


def not_running(units, states):
    """The `units` not both enabled and active, in order (a unit systemd does not know is neither)."""
    return [
        unit
        for unit in units
        if states.get(unit, {}).get("ActiveState") != "active"
        or states.get(unit, {}).get("UnitFileState") != "enabled"
    ]


def main():
    module = AnsibleModule(
        argument_spec={"units": {"type": "list", "elements": "str", "required": True}},
        supports_check_mode=True,
    )
    units = module.params["units"]
    _, out, _ = module.run_command(
        ["systemctl", "show", "--property=Id,ActiveState,UnitFileState", "--", *units], check_rc=True
    )
    module.exit_json(changed=False, to_start=not_running(units, parse_show(out)))


if __name__ == "__main__":
    main()
