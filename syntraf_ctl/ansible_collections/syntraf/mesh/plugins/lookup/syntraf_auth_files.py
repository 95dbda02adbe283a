"""Lookup: the iperf3 authentication files of one host, computed on the controller (docs/security.md)."""

from __future__ import annotations

DOCUMENTATION = r"""
name: syntraf_auth_files
short_description: the iperf3 authentication files one syntraf host receives
description:
  - Reads syntraf-ctl's material store (decrypting it with the run's vault password when it is encrypted) and
    the rendered plan, and returns the files of one host under /etc/syntraf/auth as a dict
    (relative path -> content). Only the material the host's own edges need is returned.
  - The result holds secrets; use it only in tasks with no_log.
options:
  _terms:
    description: the store file, the rendered plan.json, the inventory hostname
    required: true
"""

import json  # noqa: E402 (documentation first)

from ansible.errors import AnsibleError, AnsibleLookupError  # noqa: E402 (documentation first)
from ansible.plugins.lookup import LookupBase  # noqa: E402 (documentation first)


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        from syntraf_ctl.auth.scope import host_files
        from syntraf_ctl.auth.store import StoreError, parse_store

        store_path, plan_path, hostname = terms
        with open(plan_path, encoding="utf-8") as stream:
            plan = json.load(stream)
        names = {host["inventory_hostname"]: uid for uid, host in plan["hosts"].items()}
        uid = names.get(hostname)
        if uid is None:
            return [{}]
        try:
            store = parse_store(str(self._loader.get_text_file_contents(store_path)), store_path)
        except AnsibleError as error:
            raise AnsibleLookupError(
                f"{store_path}: cannot read the iperf3 authentication material ({error.message}); "
                "`syntraf-ctl render` or `apply` creates it (give the vault password if it is encrypted)"
            ) from None
        except StoreError as error:
            raise AnsibleLookupError(str(error)) from None
        if uid not in store.generations[store.active].hosts:
            return [{}]  # syntraf_iperf3_auth is off for this host
        pairs = {(edge["listener"], edge["initiator"]) for edge in plan["edges"]}
        try:
            return [host_files(store, pairs, uid)]
        except KeyError as error:
            raise AnsibleLookupError(
                f"{store_path} has no material for host {error}: run `syntraf-ctl render` with this inventory"
            ) from None
