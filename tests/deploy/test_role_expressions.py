"""The role's Jinja expressions that decide what to stop and start, evaluated by Ansible's own templar on the
role's files as shipped."""

from __future__ import annotations

from typing import Any

import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

from syntraf_ctl.assets import COLLECTION_DIR

ROLE = COLLECTION_DIR / "roles/syntraf_probe"


def evaluate(expression: str, variables: dict[str, Any]) -> Any:
    role_vars = yaml.safe_load((ROLE / "vars/main.yml").read_text())
    trusted = {
        name: trust_as_template(value) if isinstance(value, str) else value
        for name, value in role_vars.items()
    }
    return Templar(loader=DataLoader(), variables={**trusted, **variables}).template(
        trust_as_template(expression)
    )


def test_destroy_stops_the_units_of_every_group_config_found_on_the_host() -> None:
    """A group config without a loaded unit gave `syntraf-probe@\\1.service`, not its group's unit: in a
    folded YAML block the backslashes reach the regex as written, so `\\\\1` there is no backreference."""
    tasks = yaml.safe_load((ROLE / "tasks/remove.yml").read_text())
    task = next(task for task in tasks if task["name"] == "Work out which syntraf units to stop")
    found = {
        "syntraf_probe_loaded_units": {
            "stdout_lines": ["syntraf-probe@a.service loaded active running syntraf probe a"],
            "stdout": "syntraf-probe@a.service loaded active running syntraf probe a",
        },
        "syntraf_probe_installed_units": {
            "files": [
                {"path": "/etc/syntraf/b.json"},
                {"path": "/etc/systemd/system/syntraf.target.wants/syntraf-probe@c.service"},
            ]
        },
    }
    units = evaluate(task["ansible.builtin.set_fact"]["syntraf_probe_units_to_stop"], found)
    assert units == ["syntraf-probe@a.service", "syntraf-probe@b.service", "syntraf-probe@c.service"]


def test_deploy_starts_only_the_planned_groups_whose_units_are_not_running() -> None:
    variables = {
        "syntraf_probe_host": {"groups": ["voip", "bulk", "new"]},
        "syntraf_probe_unit_states": {
            "to_start": ["syntraf-probe@new.service", "syntraf-probe@voip.service"]
        },
    }
    assert evaluate("{{ syntraf_probe_planned_units }}", variables) == [
        "syntraf-probe@voip.service", "syntraf-probe@bulk.service", "syntraf-probe@new.service"
    ]  # fmt: skip
    assert evaluate("{{ syntraf_probe_groups_to_start }}", variables) == ["voip", "new"]
