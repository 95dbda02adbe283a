#!/usr/bin/python
"""Ansible module: lay down a syntraf host's whole file set in one run (the syntraf_files action sends it)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: syntraf_files
short_description: Write every file syntraf puts on a host, and remove the ones no longer planned
description:
  - One module run per host, whatever the number of groups, edges and peers, so a deploy that changes
    nothing costs the same on a large mesh as on a small one. Use it through the syntraf_files action,
    which reads the host's document rendered by syntraf-ctl and adds the secrets.
  - Files are owned by root, written atomically, and rewritten only when their content, mode or group
    differ. Secret files are never shown in diffs and their content is never returned.
  - The account the files belong to is declared by a sysusers.d(5) file, written first and applied with
    systemd-sysusers when the account is missing, so a fresh host needs no other module run.
  - Large files the role copies itself (the probe zipapp) are only compared, by SHA-256, mode and group, and
    reported in C(outdated): a deploy that changes nothing never sends them.
options:
  account:
    description: The account (C(name)) and its sysusers.d C(file) (path, content, group, mode, tag).
    type: dict
  directories:
    description: Directories to create (path, group, mode), parents first.
    type: list
    elements: dict
    default: []
  files:
    description: Files to write (path, content, group, mode, tag).
    type: list
    elements: dict
    default: []
  secret_files:
    description: Like C(files), for secrets (path, group, mode, tag), whose content is in C(secret_contents).
    type: list
    elements: dict
    default: []
  secret_contents:
    description: The content of each of C(secret_files), by path; never logged, masked in every output.
    type: dict
    default: {}
  prune:
    description: Remove files matching C(pattern) directly in C(directory) that are not in the file set.
    type: list
    elements: dict
    default: []
  copies:
    description: Files to compare only (path, sha256, group, mode, tag); those that differ are in C(outdated).
    type: list
    elements: dict
    default: []
author: syntraf
"""

RETURN = r"""
changed_tags: {description: tags of the files written, sorted, type: list, returned: always}
removed: {description: files removed, type: list, returned: always}
outdated: {description: paths of C(copies) missing or different on the host, type: list, returned: always}
"""

import fnmatch  # noqa: E402 (Ansible modules put their documentation first)
import grp  # noqa: E402
import os  # noqa: E402
import pwd  # noqa: E402
import tempfile  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

FILE_SPEC = {
    "path": {"type": "path", "required": True},
    "content": {"type": "str", "required": True},
    "group": {"type": "str", "required": True},
    "mode": {"type": "str", "required": True},
    "tag": {"type": "str", "default": ""},
}
SECRET_SPEC = {key: spec for key, spec in FILE_SPEC.items() if key != "content"}
COPY_SPEC = {**SECRET_SPEC, "sha256": {"type": "str", "required": True}}
ACCOUNT_SPEC = {
    "name": {"type": "str", "required": True},
    "file": {"type": "dict", "required": True, "options": FILE_SPEC},
}


def gid_of(group, check_mode):
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        if check_mode:
            return None  # the group a real run creates first
        raise


def differs(path, content, gid, mode):
    try:
        status = os.stat(path)
        with open(path, "rb") as stream:
            current = stream.read()
    except OSError:
        return True, ""
    same = (
        current == content and status.st_gid == gid and status.st_mode & 0o7777 == mode and not status.st_uid
    )
    return not same, current.decode("utf-8", "replace")


def write(path, content, gid, mode):
    descriptor, temporary = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".syntraf-")
    try:
        os.fchown(descriptor, 0, gid)
        os.fchmod(descriptor, mode)
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(content)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def outdated(entry, sha256, check_mode):
    """Whether the host's copy of `entry`, whose SHA-256 is `sha256` (None: missing), is missing or differs
    in content, owner, group or mode."""
    gid, mode = gid_of(entry["group"], check_mode), int(entry["mode"], 8)
    try:
        status = os.stat(entry["path"])
    except OSError:
        return True
    same_attributes = status.st_gid == gid and status.st_mode & 0o7777 == mode and not status.st_uid
    return not same_attributes or sha256 != entry["sha256"]


def account_exists(name):
    try:
        pwd.getpwnam(name)
        grp.getgrnam(name)
    except KeyError:
        return False
    return True


def ensure_directory(entry, check_mode):
    gid, mode = gid_of(entry["group"], check_mode), int(entry["mode"], 8)
    try:
        status = os.stat(entry["path"])
    except FileNotFoundError:
        if not check_mode:
            os.mkdir(entry["path"], mode)
            os.chown(entry["path"], 0, gid)
            os.chmod(entry["path"], mode)
        return True
    if status.st_gid == gid and status.st_mode & 0o7777 == mode and not status.st_uid:
        return False
    if not check_mode:
        os.chown(entry["path"], 0, gid)
        os.chmod(entry["path"], mode)
    return True


def main():
    module = AnsibleModule(
        argument_spec={
            "directories": {"type": "list", "elements": "dict", "default": []},
            "files": {"type": "list", "elements": "dict", "default": [], "options": FILE_SPEC},
            "secret_files": {"type": "list", "elements": "dict", "default": [], "options": SECRET_SPEC},
            # the secrets' contents by path, in a parameter of their own that is never logged: Ansible logs
            # a list parameter as its repr and masks nested secrets by searching them there, where a
            # multi-line secret (a PEM key) has its newlines escaped and is not found
            "secret_contents": {"type": "dict", "default": {}, "no_log": True},
            "prune": {"type": "list", "elements": "dict", "default": []},
            "copies": {"type": "list", "elements": "dict", "default": [], "options": COPY_SPEC},
            "account": {"type": "dict", "options": ACCOUNT_SPEC},
        },
        supports_check_mode=True,
    )
    check = module.check_mode
    tags, diffs, removed = set(), [], []
    changed = False

    def install(entry, secret):
        """Write `entry` unless the host's copy is the same; whether it was (or would be) written."""
        path, content = entry["path"], entry["content"].encode("utf-8")
        gid, mode = gid_of(entry["group"], check), int(entry["mode"], 8)
        different, before = differs(path, content, gid, mode)
        if not different:
            return False
        tags.add(entry["tag"])
        if module._diff and not secret:
            diffs.append(
                {"before": before, "after": entry["content"], "before_header": path, "after_header": path}
            )
        if not check:
            write(path, content, gid, mode)
        return True

    account = module.params["account"]
    if account:  # first: the directories and files below belong to it
        if not check:
            os.makedirs(os.path.dirname(account["file"]["path"]), 0o755, exist_ok=True)
        changed = install(account["file"], secret=False)
        if not account_exists(account["name"]):
            changed = True
            if not check:
                module.run_command(["systemd-sysusers", account["file"]["path"]], check_rc=True)
    changed = any([ensure_directory(entry, check) for entry in module.params["directories"]]) or changed
    wanted = set()
    contents, secret_targets = module.params["secret_contents"], module.params["secret_files"]
    missing = [entry["path"] for entry in secret_targets if entry["path"] not in contents]
    if missing:
        module.fail_json(msg=f"secret_files without secret_contents: {', '.join(missing)}")
    secret_files = [dict(entry, content=str(contents[entry["path"]])) for entry in secret_targets]
    for secret, entries in ((False, module.params["files"]), (True, secret_files)):
        for entry in entries:
            wanted.add(entry["path"])
            changed = install(entry, secret) or changed
    for rule in module.params["prune"]:
        try:
            names = sorted(os.listdir(rule["directory"]))
        except FileNotFoundError:
            continue
        for name in names:
            path = os.path.join(rule["directory"], name)
            if fnmatch.fnmatch(name, rule["pattern"]) and os.path.isfile(path) and path not in wanted:
                removed.append(path)
                if not check:
                    os.unlink(path)
    copies = module.params["copies"]
    stale = [entry["path"] for entry in copies if outdated(entry, module.sha256(entry["path"]), check)]
    module.exit_json(
        changed=changed or bool(removed),
        changed_tags=sorted(tags - {""}),
        removed=removed,
        outdated=stale,
        diff=diffs,
    )


if __name__ == "__main__":
    main()
