#!/usr/bin/python
"""Ansible module: report syntraf's units and the probes' state files on a host (read-only)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: syntraf_probe_status
short_description: Report syntraf's probe units and state files
description:
  - Lists the syntraf units with their active state, reads every C(<group>.state.json) of the probes' runtime
    directory, and reports the host's clock so the caller can compute ages. Changes nothing.
options:
  run_dir:
    description: The probes' runtime directory (the role's syntraf_probe_run_dir).
    type: path
    required: true
author: syntraf
"""

RETURN = r"""
now: {description: the host's clock (unix seconds), type: float, returned: always}
units: {description: "syntraf units: name, load, active, sub", type: list, returned: always}
states: {description: the parsed state files, one per group, type: list, returned: always}
errors: {description: state files that could not be read, type: list, returned: always}
"""

import glob  # noqa: E402 (Ansible modules put their documentation first)
import json  # noqa: E402
import os  # noqa: E402
import time  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402


def list_units(module):
    rc, out, _ = module.run_command(
        [
            "systemctl",
            "list-units",
            "syntraf-probe@*",
            "syntraf.target",
            "--all",
            "--plain",
            "--no-legend",
            "--no-pager",
        ]
    )
    units = []
    for line in out.splitlines() if rc == 0 else []:
        fields = line.split(None, 4)
        if len(fields) >= 4:
            units.append({"name": fields[0], "load": fields[1], "active": fields[2], "sub": fields[3]})
    return units


def read_states(run_dir):
    states, errors = [], []
    for path in sorted(glob.glob(os.path.join(run_dir, "*.state.json"))):
        try:
            with open(path) as handle:
                states.append(json.load(handle))
        except (OSError, ValueError) as error:
            errors.append(f"{path}: {error}")
    return states, errors


def main():
    module = AnsibleModule(
        argument_spec={"run_dir": {"type": "path", "required": True}}, supports_check_mode=True
    )
    states, errors = read_states(module.params["run_dir"])
    module.exit_json(changed=False, now=time.time(), units=list_units(module), states=states, errors=errors)


if __name__ == "__main__":
    main()
