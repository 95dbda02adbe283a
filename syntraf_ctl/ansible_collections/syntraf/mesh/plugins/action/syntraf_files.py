"""Action: send a host's whole file set, from its rendered document and the secrets, in one module run."""

from __future__ import annotations

DOCUMENTATION = r"""
name: syntraf_files
short_description: deploy the files syntraf-ctl rendered for a host, with its secrets, in one module run
description:
  - Reads C(host.json) in the host's directory of a C(syntraf-ctl render) (the host's groups, account,
    files, databases and directories), the files it names, the SHA-256 of the probe zipapp, the host's
    InfluxDB tokens from the inventory's C(syntraf_influxdb) (paired by the index the document gives) and,
    when the host uses iperf3 authentication, its key files (a YAML mapping of names to contents that
    syntraf-ctl writes beside its material store, vault-encrypted when the store is; the document gives its
    path relative to C(auth_base)). Then runs the syntraf_files module once.
options:
  host_dir: {description: the host's directory of the render, type: path, required: true}
  auth_base: {description: the directory the key files' path is relative to (the inventory's), type: path}
"""

import hashlib  # noqa: E402 (documentation first)
import json  # noqa: E402
import os  # noqa: E402

import yaml  # noqa: E402
from ansible.errors import AnsibleActionFail  # noqa: E402
from ansible.plugins.action import ActionBase  # noqa: E402
from ansible.utils.hashing import secure_hash  # noqa: E402

DOCUMENT_SCHEMA = 2  # the host document this action reads (syntraf_ctl/render.py writes it)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        host_dir = self._task.args["host_dir"]
        with open(os.path.join(host_dir, "host.json"), encoding="utf-8") as stream:
            document = json.load(stream)
        if document.get("schema") != DOCUMENT_SCHEMA:
            raise AnsibleActionFail(
                f"{host_dir}/host.json: schema {document.get('schema')}, this role reads schema "
                f"{DOCUMENT_SCHEMA}: render again with the syntraf-ctl this collection came with"
            )
        files = [self._file(host_dir, entry) for entry in document["files"]]
        secrets = [(entry["target"], self._token(entry["index"], task_vars)) for entry in document["tokens"]]
        auth = document.get("auth")
        if auth:
            target = {key: auth[key] for key in ("tag", "group", "mode")}
            secrets += [
                (dict(target, path=os.path.join(auth["path"], name)), content)
                for name, content in sorted(self._auth_files(auth["files"]).items())
            ]
        arguments = {
            "directories": document["directories"],
            "files": files,
            "secret_files": [target for target, _ in secrets],
            "secret_contents": {target["path"]: content for target, content in secrets},
            "prune": document["prune"],
            "account": {
                "name": document["account"]["name"],
                "file": self._file(host_dir, document["account"]),
            },
            "copies": [
                dict(
                    document["probe"]["target"],
                    sha256=secure_hash(os.path.join(host_dir, document["probe"]["source"]), hashlib.sha256),
                )
            ],
        }
        result.update(self._execute_module("syntraf.mesh.syntraf_files", arguments, task_vars=task_vars))
        return result

    @staticmethod
    def _file(host_dir, entry):
        with open(os.path.join(host_dir, entry["source"]), encoding="utf-8") as stream:
            return dict(entry["target"], content=stream.read())

    def _token(self, index, task_vars):
        databases = self._templar.template(task_vars.get("syntraf_influxdb", []))
        try:
            return str(databases[index]["token"])
        except (IndexError, KeyError, TypeError):
            raise AnsibleActionFail(f"syntraf_influxdb[{index}] has no token (render again)") from None

    def _auth_files(self, relative):
        path = os.path.join(self._task.args.get("auth_base") or ".", relative)
        try:
            files = yaml.safe_load(self._loader.get_text_file_contents(path))
        except Exception as error:  # a missing file, no vault password, bad YAML: all say the same
            raise AnsibleActionFail(
                f"{path}: cannot read this host's iperf3 key files ({error}); `syntraf-ctl render` or "
                "`apply` writes them (give the vault password if they are encrypted)"
            ) from None
        if not isinstance(files, dict):
            raise AnsibleActionFail(f"{path}: not a mapping of file names to contents")
        return files
