"""Template inventory values for many hosts, rendering each distinct template with distinct inputs once.

Ansible templates a host's value anew for every host: for a value from group_vars seen by 1,000 hosts that
means 1,000 Jinja compilations of the same text. Here a value is rendered once per distinct (value, values of
the variables its templates read, followed through the templates of those variables); a host whose inputs
are the same gets the same result. A value is always rendered afresh (as Ansible would) when what it reads
cannot be known from its text: a function call (`lookup`, `query`, `now`...), an include or import, a
filter whose result changes between calls (`random`, `shuffle`) or from a collection (which may read any
variable); or when it reaches a value of a type other than YAML's plain ones or a vaulted string. Errors
are never cached: every host gets its own problem.
"""

from __future__ import annotations

from typing import Any

import jinja2
from ansible.parsing.dataloader import DataLoader
from ansible.parsing.vault import EncryptedString, VaultHelper
from ansible.template import Templar, is_trusted_as_template
from jinja2 import nodes

UNPREDICTABLE_FILTERS = frozenset({"random", "shuffle", "password_hash"})  # a new result on every call
_PARSER = jinja2.Environment()  # only parses, to see what a template reads
_OPAQUE_NODES = (nodes.Call, nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)


class _Unknowable(Exception):
    """What a value's templates read, or the value itself, cannot be told from its text."""


class ValueTemplater:
    """Template values with a host's variables, as Ansible's Templar does, reusing earlier results."""

    def __init__(self, loader: DataLoader) -> None:
        self._templar = Templar(loader=loader)
        self._results: dict[Any, Any] = {}
        self._reads: dict[str, frozenset[str] | None] = {}  # template text -> variables it reads

    def template(self, value: Any, variables: dict[str, Any]) -> Any:
        """`value` templated with `variables`, as builtin Python types. Raises AnsibleError."""
        if not _may_template(value):
            return plain(value)
        try:
            key = (_fingerprint(value), self._inputs(value, variables))
        except _Unknowable:
            return self._render(value, variables)
        if key not in self._results:
            self._results[key] = self._render(value, variables)
        return plain(self._results[key])  # a copy: callers may change what they get

    def _render(self, value: Any, variables: dict[str, Any]) -> Any:
        self._templar.available_variables = variables
        return plain(self._templar.template(value))

    def _inputs(self, value: Any, variables: dict[str, Any]) -> tuple[Any, ...]:
        """The variables `value`'s templates read, directly or through other variables' templates, with
        their values."""
        seen: set[str] = set()
        pending = [value]
        while pending:
            for text in _template_texts(pending.pop()):
                for name in self._read_by(text) - seen:
                    seen.add(name)
                    if name in variables:
                        pending.append(variables[name])
        missing = ("missing",)
        return tuple(
            (name, _fingerprint(variables[name]) if name in variables else missing) for name in sorted(seen)
        )

    def _read_by(self, text: str) -> frozenset[str]:
        if text not in self._reads:
            self._reads[text] = _variables_read(text)
        reads = self._reads[text]
        if reads is None:
            raise _Unknowable
        return reads


def _variables_read(text: str) -> frozenset[str] | None:
    """The variables template `text` reads, or None when they cannot be told (or it does not parse here, with
    Jinja's default syntax and no extensions: Ansible then renders it and reports any error)."""
    if text.startswith("#jinja2:"):  # overrides change the syntax; Ansible applies them when rendering
        return None
    try:
        tree = _PARSER.parse(text)
    except Exception:  # noqa: BLE001 -- Ansible reports the syntax error when it renders the value
        return None
    if any(True for _ in tree.find_all(_OPAQUE_NODES)):
        return None
    for node in tree.find_all(nodes.Filter):
        name = node.name.removeprefix("ansible.builtin.")
        if name in UNPREDICTABLE_FILTERS or "." in name:
            return None
    # every name it loads: its own (loop variables, `set`) too, which only makes the inputs stricter
    return frozenset(node.name for node in tree.find_all(nodes.Name) if node.ctx == "load")


def _may_template(value: Any) -> bool:
    """Whether templating can change `value`: a trusted string with template markers, a vaulted string, or a
    container holding one; anything but YAML's plain types is left to Ansible too."""
    if value is None or isinstance(value, (bool, int, float)):
        return False
    if isinstance(value, str):
        # any "{" or an overrides header rather than Ansible's exact markers: more goes to Ansible, never less
        return is_trusted_as_template(value) and ("{" in value or value.startswith("#jinja2:"))
    if isinstance(value, dict):
        return any(_may_template(k) or _may_template(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_may_template(item) for item in value)
    return True


def _template_texts(value: Any) -> list[str]:
    """The strings in `value` Ansible would render as templates."""
    if isinstance(value, str):
        return [value] if _may_template(value) else []
    if isinstance(value, dict):
        return [text for k, v in value.items() for text in (*_template_texts(k), *_template_texts(v))]
    if isinstance(value, list):
        return [text for item in value for text in _template_texts(item)]
    return []


def _fingerprint(value: Any) -> Any:
    """A hashable equivalent of `value` for templating: equal fingerprints template to equal results."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return ("int", int(value))
    if isinstance(value, float):
        return ("float", float(value))
    if isinstance(value, str):
        return ("str", str(value), is_trusted_as_template(value))
    if isinstance(value, dict):
        return ("dict", tuple((_fingerprint(k), _fingerprint(v)) for k, v in value.items()))
    if isinstance(value, list):
        return ("list", tuple(_fingerprint(item) for item in value))
    if type(value) is EncryptedString:
        return ("vault", str(VaultHelper.get_ciphertext(value, with_tags=False)))
    raise _Unknowable


def plain(value: Any) -> Any:
    """Ansible's tagged/lazy containers and strings as builtin Python types."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    for kind in (str, int, float):
        if isinstance(value, kind):
            return kind(value)
    return value
