"""Ansible's warnings while it loads an inventory, turned into problems where they are one.

Ansible only warns about a duplicate YAML key (it keeps the last value) and, before it gives up on an
inventory source with "Completely failed to parse", warns once per plugin with the real cause. Both are
captured here: a duplicate key becomes a problem naming file:line, and a source no plugin could parse becomes
a problem with the cause (YAML error with its line, a script's exit code and stderr). Other warnings and
deprecations are shown as Ansible shows them.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator

from ansible import constants as C
from ansible._internal._display_utils import DeferredWarningContext
from ansible.module_utils._internal._messages import Event, WarningSummary
from ansible.utils.display import Display

from syntraf_ctl.problems import Problem, display_path

DUPLICATE_KEY_SETTING = "ANSIBLE_DUPLICATE_YAML_DICT_KEY"
_ORIGIN = re.compile(r"^Origin: (/.+?)(?::(\d+)(?::\d+)?)?$", re.MULTILINE)
_PLUGIN_SOURCE = re.compile(r"^Origin: <inventory plugin '\w+' with source '(/[^']+)'>$", re.MULTILINE)
_DUPLICATE = re.compile(r"^Found duplicate mapping key (.+)\.$")
_PLUGIN_FAILED = re.compile(r"^Failed to parse inventory with '(\w+)' plugin\.$")
# Causes that only say "this plugin is not the one for this file": noise when another plugin tried.
_NOT_MINE = ("no root 'plugin' key", "Plugin configuration YAML file, not YAML inventory")


@contextlib.contextmanager
def warnings_as_problems(problems: list[Problem]) -> Iterator[None]:
    """Run Ansible calls with their warnings captured; add the problems among them to `problems`, even when
    the calls raise (the "Completely failed to parse" error comes after the warnings with the cause)."""
    with DeferredWarningContext(variables={}) as context, _duplicate_keys_reported():
        try:
            yield
        finally:
            problems.extend(_problems(context.get_warnings()))
            for deprecation in context.get_deprecation_warnings():
                Display()._deprecated(deprecation)


@contextlib.contextmanager
def _duplicate_keys_reported() -> Iterator[None]:
    """Ansible's `duplicate_dict_key` setting at `warn` (captured as a problem) unless it is `error` already:
    an ansible.cfg or environment saying `ignore` must not let a duplicate key pass silently."""
    saved = os.environ.get(DUPLICATE_KEY_SETTING)
    if C.config.get_config_value("DUPLICATE_YAML_DICT_KEY") != "error":
        os.environ[DUPLICATE_KEY_SETTING] = "warn"
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(DUPLICATE_KEY_SETTING, None)
        else:
            os.environ[DUPLICATE_KEY_SETTING] = saved


def _problems(warnings: list[WarningSummary]) -> list[Problem]:
    """The problems among captured warnings; the other warnings are shown as Ansible shows them."""
    found: list[Problem] = []
    failures: list[tuple[str, Problem]] = []
    for warning in warnings:
        event = warning.event
        duplicate = _DUPLICATE.match(event.msg)
        plugin = _PLUGIN_FAILED.match(event.msg)
        if duplicate:
            message = f"duplicate key {duplicate.group(1)}: YAML keeps only the last value; remove one"
            found.append(Problem(_source(event), "inventory", "", message))
        elif plugin and event.chain:
            failures.append((plugin.group(1), _cause(event.chain.event)))
        else:
            Display()._warning(warning)
    # The ini plugin tries every file and fails on YAML or scripts with a misleading message: keep its
    # cause only when no other plugin tried.
    useful = [(name, p) for name, p in failures if not any(text in p.message for text in _NOT_MINE)]
    others = [p for name, p in useful if name != "ini"]
    return found + (others or [p for _, p in useful] or [p for _, p in failures])


def _cause(event: Event) -> Problem:
    """The cause of a plugin's failure: every message of the chain, the help (a script's stderr) and the most
    precise place (a file:line rather than the source the plugin was given)."""
    messages: list[str] = []
    sources: list[str] = []
    current: Event | None = event
    while current is not None:
        for text in (current.msg, current.help_text or ""):
            text = " ".join(text.split()).rstrip(".")  # one line: a script's stderr may have several
            if text and "\n" not in current.msg and text not in messages:
                messages.append(text)
        sources.append(_source(current))
        current = current.chain.event if current.chain else None
    source = next((s for s in sources if ":" in s), next((s for s in sources if s), ""))
    return Problem(source, "inventory", "", "cannot be parsed: " + ": ".join(messages))


def _source(event: Event) -> str:
    """`file:line` of the event's source context (a loaded file, or the source a plugin was given)."""
    context = event.formatted_source_context or ""
    match = _ORIGIN.search(context) or _PLUGIN_SOURCE.search(context)
    if not match:
        return ""
    path = display_path(match.group(1))
    line = match.group(2) if match.re is _ORIGIN else None
    return f"{path}:{line}" if line else path
