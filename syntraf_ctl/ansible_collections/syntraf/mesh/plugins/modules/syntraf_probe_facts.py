#!/usr/bin/python
"""Ansible module (run on the controller): record the hosts' iperf3 versions for syntraf-ctl's plan."""

from __future__ import annotations

DOCUMENTATION = r"""
module: syntraf_probe_facts
short_description: Record hosts' iperf3 versions in the inventory's .syntraf-facts.json
description:
  - Merges the given versions into the file syntraf-ctl plan reads (syntraf_ctl.auth.facts), keeping other
    hosts' entries. An entry is rewritten (with a new timestamp) only when its version changed, so a run that
    finds nothing new changes nothing. Values that are not versions (iperf3 not installed yet) are skipped.
options:
  path: {description: the facts file, type: path, required: true}
  versions: {description: inventory hostname -> iperf3 version, type: dict, required: true}
author: syntraf
"""

import datetime  # noqa: E402 (Ansible modules put their documentation first)
import json  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import tempfile  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

SCHEMA = 1


def read(path):
    try:
        with open(path) as handle:
            content = json.load(handle)
    except (OSError, ValueError):
        return {}  # a missing or damaged cache is rewritten
    hosts = content.get("hosts") if isinstance(content, dict) else None
    return hosts if isinstance(hosts, dict) else {}


def merged(hosts, versions, now):
    result = dict(hosts)
    for name, version in versions.items():
        version = str(version or "")
        if (
            re.fullmatch(r"\d+\.\d+(\.\d+)*", version)
            and result.get(name, {}).get("iperf3_version") != version
        ):
            result[name] = {"iperf3_version": version, "recorded": now}
    return result


def write(path, hosts):
    text = json.dumps({"schema": SCHEMA, "hosts": hosts}, indent=2, sort_keys=True) + "\n"
    descriptor, temporary = tempfile.mkstemp(dir=os.path.dirname(path) or ".", prefix=".syntraf-facts.")
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
    os.chmod(temporary, 0o644)
    os.replace(temporary, path)


def main():
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "versions": {"type": "dict", "required": True},
        },
        supports_check_mode=True,
    )
    path = module.params["path"]
    hosts = read(path)
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    updated = merged(hosts, module.params["versions"], now)
    changed = updated != hosts or not os.path.exists(path)
    if changed and not module.check_mode:
        write(path, updated)
    module.exit_json(changed=changed, path=path, hosts=updated)


if __name__ == "__main__":
    main()
