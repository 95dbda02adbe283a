"""Read an Ansible inventory with ansible-core's own API: hosts, groups, templated and vaulted variables.

This is the only module that talks to Ansible (with syntraf_ctl.ansible_warnings, which turns its warnings
into problems, and syntraf_ctl.ansible_templating, which templates values). It hands the rest of the
controller plain Python values (dict, list, str, int, float, bool, None) plus, for each value, the file and
line Ansible loaded it from, so validation messages can point at them.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterable, Iterator
from typing import Any

from ansible import constants as ansible_constants
from ansible._internal._datatag._tags import Origin
from ansible.errors import AnsibleError
from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader
from ansible.parsing.vault import VaultSecretsContext, get_file_vault_secret
from ansible.plugins.vars import host_group_vars
from ansible.utils.vars import combine_vars
from ansible.vars.manager import VariableManager
from ansible.vars.plugins import get_vars_from_inventory_sources

from syntraf_ctl.ansible_templating import ValueTemplater
from syntraf_ctl.ansible_warnings import warnings_as_problems
from syntraf_ctl.model import GLOBAL_KEYS
from syntraf_ctl.problems import Problem, ValidationError, display_path
from syntraf_ctl.time_limit import ENVIRONMENT, TimeLimitExceeded, inventory_seconds, time_limit
from syntraf_ctl.variables import Vars


class LoadedInventory:
    """An inventory loaded by Ansible. Host variables are resolved once per host, on first use."""

    def __init__(self, source: str, vault_password_file: str | None = None) -> None:
        self.source = os.path.abspath(source)
        self.problems: list[Problem] = []
        _forget_cached_vars_files()
        self._loader = DataLoader()
        self._vault_secrets: list[tuple[str, Any]] = []
        if vault_password_file:
            secret = get_file_vault_secret(
                filename=vault_password_file, vault_id="default", loader=self._loader
            )
            secret.load()
            self._vault_secrets = [("default", secret)]
            self._loader.set_vault_secrets(self._vault_secrets)
        seconds = inventory_seconds()
        try:
            with time_limit(seconds), warnings_as_problems(self.problems), _unparsed_sources_fail():
                self._inventory = InventoryManager(loader=self._loader, sources=[self.source])
        except TimeLimitExceeded:
            message = (
                f"not loaded within {seconds:g} s (a dynamic inventory script that hangs?); "
                f"set {ENVIRONMENT} to allow longer"
            )
            raise ValidationError([Problem(display_path(self.source), "inventory", "", message)]) from None
        except AnsibleError as error:  # the captured warnings say why; Ansible's error only that it failed
            problems = self.problems or [error_problem(error, display_path(self.source))]
            raise ValidationError(problems) from None
        self._variables = VariableManager(loader=self._loader, inventory=self._inventory)
        self._host_cache: dict[str, Vars] = {}
        self._templater = ValueTemplater(self._loader)

    @property
    def directory(self) -> str:
        """The inventory directory (the source itself if it is one), where the lock file lives."""
        return self.source if os.path.isdir(self.source) else os.path.dirname(self.source)

    @property
    def hostnames(self) -> list[str]:
        """Every inventory host, in inventory order."""
        return [host.name for host in self._inventory.get_hosts("all")]

    def has_group(self, name: str) -> bool:
        return name in self._inventory.groups

    def match(self, pattern: str | list[str]) -> list[str]:
        """Hosts matching an Ansible host pattern (`web:&eu`, `mtl-*`, a list of patterns...)."""
        return [host.name for host in self._inventory.get_hosts(pattern)]

    def globals(self, keys: Iterable[str] = GLOBAL_KEYS) -> Vars:
        """The `all` group's variables (inventory `all: vars:` and group_vars/all), templated."""
        return self._resolve("inventory", self._all_vars, keys)

    @functools.cached_property
    def _all_vars(self) -> dict[str, Any]:
        group = self._inventory.groups["all"]
        with warnings_as_problems(self.problems):
            plugins = get_vars_from_inventory_sources(self._loader, self._inventory._sources, [group], "task")
        return combine_vars(group.get_vars(), plugins)

    def host(self, name: str, keys: Iterable[str]) -> Vars:
        """`keys` of host `name` as Ansible resolves them for a play (group and host precedence), templated.

        All of a host's variables are gathered once; templating is limited to `keys`, which keeps a
        large inventory fast.
        """
        if name not in self._host_cache:
            host = self._inventory.get_host(name)
            with warnings_as_problems(self.problems):
                raw = self._variables.get_vars(host=host)
            self._check_global_keys(name, raw)
            self._host_cache[name] = self._resolve(f"host {name}", raw, keys)
        return self._host_cache[name]

    def _check_global_keys(self, name: str, raw: dict[str, Any]) -> None:
        """Mesh groups and profiles are one definition for everyone: a host must not see another one."""
        for key in GLOBAL_KEYS:
            if key in raw and raw[key] != self._all_vars.get(key):
                self.problems.append(
                    Problem(
                        where(raw[key]),
                        f"host {name}",
                        key,
                        "must be defined once for all hosts (the inventory's `all` vars or group_vars/all), "
                        "not per host or per group",
                    )
                )

    def _resolve(self, scope: str, raw: dict[str, Any], keys: Iterable[str]) -> Vars:
        """Template `keys` of `raw` with `raw` as the variables, recording where each value came from."""
        result = Vars(scope, {})
        wanted = set(keys)
        result.others = {
            str(key): where(value) or where(key)
            for key, value in raw.items()
            if key.startswith("syntraf_") and key not in wanted
        }
        with _vault_context(self._vault_secrets):
            for key in raw:  # raw's own keys: they carry the file:line of a boolean or null value
                if key not in wanted:
                    continue
                name = str(key)
                _record_origins(raw[key], name, result.origins, key)
                try:
                    result.values[name] = self._templater.template(raw[key], raw)
                except AnsibleError as error:
                    result.failed.add(name)
                    self.problems.append(Problem(result.origin(name), scope, name, _template_error(error)))
        return result


def where(value: Any) -> str:
    """`file:line` Ansible recorded for a loaded value, relative to the working directory when inside it."""
    return _format_origin(Origin.get_tag(value))


def error_problem(error: AnsibleError, source: str) -> Problem:
    """A problem for an error Ansible raised while loading, pointing at the file it names if any."""
    cause: BaseException | None = error
    while cause is not None:
        obj = getattr(cause, "obj", None)
        origin = obj if isinstance(obj, Origin) else Origin.get_tag(obj)
        if origin is not None and origin.path:
            source = _format_origin(origin)
            break
        cause = cause.__cause__ or cause.__context__
    return Problem(source, "inventory", "", getattr(error, "message", str(error)))


def _format_origin(origin: Origin | None) -> str:
    if origin is None or not origin.path:
        return ""
    return _file_line(origin.path, origin.line_num, os.getcwd())


@functools.lru_cache(maxsize=4096)
def _file_line(path: str, line: int | None, cwd: str) -> str:
    """Formatted once per place: every host sees the same group_vars lines (`cwd`: paths are shown relative
    to it, and it may change between inventories)."""
    shown = display_path(path)
    return f"{shown}:{line}" if line else shown


def _record_origins(value: Any, path: str, origins: dict[str, str], name: Any = None, depth: int = 3) -> None:
    """Where `value` (set under key `name`) came from; a boolean or null carries no tag, its key does."""
    source = where(value) or where(name)
    if source:
        origins[path] = source
    if depth == 0:
        return
    if isinstance(value, dict):
        for key, item in value.items():
            _record_origins(item, f"{path}.{key}", origins, key, depth - 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _record_origins(item, f"{path}[{index}]", origins, None, depth - 1)


def _template_error(error: AnsibleError) -> str:
    text = error.message if hasattr(error, "message") else str(error)
    if "vault" in text.lower() or "decrypt" in text.lower():
        return f"cannot decrypt a vault-encrypted value (is --vault-password-file given and right?): {text}"
    return f"cannot be templated: {text}"


def _forget_cached_vars_files() -> None:
    """Ansible's group_vars/host_vars plugin caches which files exist for the life of the process (one
    ansible-playbook run); the controller may load an inventory again after it changed, so start afresh."""
    host_group_vars.FOUND.clear()
    host_group_vars.NAK.clear()
    host_group_vars.CANONICAL_PATHS.clear()


@contextlib.contextmanager
def _vault_context(secrets: list[tuple[str, Any]]) -> Iterator[None]:
    """Make `secrets` the ones vaulted values decrypt with while templating.

    Ansible keeps them in a process-wide context meant to be set once by its CLI; the controller may load
    several inventories in one process (tests, apply), so it is set around each use and restored after.
    """
    saved = VaultSecretsContext._current
    VaultSecretsContext._current = VaultSecretsContext(secrets)
    try:
        yield
    finally:
        VaultSecretsContext._current = saved


@contextlib.contextmanager
def _unparsed_sources_fail() -> Iterator[None]:
    """Make an inventory file Ansible cannot parse an error instead of a warning, for this load only."""
    saved = ansible_constants.INVENTORY_ANY_UNPARSED_IS_FAILED
    ansible_constants.INVENTORY_ANY_UNPARSED_IS_FAILED = True
    try:
        yield
    finally:
        ansible_constants.INVENTORY_ANY_UNPARSED_IS_FAILED = saved
