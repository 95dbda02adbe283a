"""The syntraf_files module's invocation, as Ansible logs it on the host (journal or syslog), holds no
secret file content. Run in-process through Ansible's own AnsibleModule, in check mode (writes nothing)."""

from __future__ import annotations

import importlib.util
import json
import secrets
from pathlib import Path

import pytest
from ansible.module_utils import basic

from syntraf_ctl.assets import COLLECTION_DIR

MODULE = COLLECTION_DIR / "plugins/modules/syntraf_files.py"


def logged_invocation(monkeypatch: pytest.MonkeyPatch, arguments: dict) -> str:
    """What AnsibleModule hands to its logger when the module starts (`Invoked with ...`)."""
    logged: list[str] = []
    monkeypatch.setattr(basic.AnsibleModule, "log", lambda self, msg, log_args=None: logged.append(msg))
    monkeypatch.setattr(
        basic, "_ANSIBLE_ARGS", json.dumps({"ANSIBLE_MODULE_ARGS": arguments}).encode("utf-8")
    )
    monkeypatch.setattr(basic, "_ANSIBLE_PROFILE", "legacy")  # how ansible-core 2.19 hands arguments over
    spec = importlib.util.spec_from_file_location("syntraf_files_under_test", MODULE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with pytest.raises(SystemExit):
        module.main()
    return "\n".join(logged)


def test_a_multi_line_secret_is_not_in_the_logged_invocation(monkeypatch, tmp_path: Path, capsys) -> None:
    """A listener's private key (PEM, many lines) was logged in clear: Ansible masks a secret inside a list
    parameter by searching its text in the list's repr, where the key's newlines are escaped. (Before the
    contents had their own parameter, this test passed them inside `secret_files` and failed.)"""
    body = [secrets.token_urlsafe(48) for _ in range(6)]
    key = "\n".join(["-----BEGIN PRIVATE KEY-----", *body, "-----END PRIVATE KEY-----", ""])
    password = secrets.token_urlsafe(24)
    secret_file = {"group": "syntraf", "mode": "0640", "tag": "auth"}
    pem, word = str(tmp_path / "listener.pem"), str(tmp_path / "peer.password")
    text = logged_invocation(
        monkeypatch,
        {
            "_ansible_check_mode": True,
            "files": [{"path": str(tmp_path / "a.json"), "content": "{}", "group": "root", "mode": "0644"}],
            "secret_files": [
                dict(secret_file, path=pem),
                dict(secret_file, path=word),
            ],
            "secret_contents": {pem: key, word: password},
        },
    )
    assert "Invoked with" in text and "a.json" in text  # the invocation is logged, without secrets
    assert [line for line in body if line in text] == [] and password not in text
    assert json.loads(capsys.readouterr().out).get("failed") is not True
