"""Read and check a mesh group's `topology` setting (docs/inventory.md, "Topologies").

A bad value is reported (file, group, key) and the group is left out of the model, so a wrong topology can
never silently fall back to another shape.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from syntraf_probe import bounds

from syntraf_ctl.problems import Problem
from syntraf_ctl.topology import FULL, KINDS, Topology
from syntraf_ctl.variables import Vars

KEYS = {
    "full": ("kind",),
    "hub_and_spoke": ("kind", "hubs"),
    "sites": ("kind", "sites", "site_variable", "pairs"),
    "rotating": ("kind", "peers", "epoch"),
}
MAX_SITE_PAIRS = 100
Report = Callable[[str, str], None]  # (key path, message)
VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")  # an Ansible variable name


def site_variable(spec: Any) -> str | None:
    """The host variable a group's `topology` takes its sites from, if it names a valid one: build_model
    reads it with the other host variables."""
    if isinstance(spec, dict) and spec.get("kind") == "sites":
        name = spec.get("site_variable")
        if isinstance(name, str) and VARIABLE.match(name):
            return name
    return None


def parse_topology(
    spec: Any,
    path: str,
    members: list[str],
    uid_of: dict[str, str],
    match: Callable[[str | list[str]], list[str]],
    interval: float | None,
    report: Report,
    hosts: Mapping[str, Vars],
    report_host: Callable[[Problem], None],
) -> Topology | None:
    """The Topology of a group whose inventory hostnames are `members`, or None after reporting why not.

    `match` resolves an Ansible host pattern to inventory hostnames; `interval` is the group's reporting
    interval (None when its traffic settings are invalid); `hosts` are the members' variables (with the
    one named by `site_variable`), `report_host` takes a problem with a host's own value."""
    path = f"{path}.topology"
    if spec is None or spec == "full":
        return FULL
    if isinstance(spec, str):
        spec = {"kind": spec}
    if not isinstance(spec, dict):
        report(path, f"expected a kind ({', '.join(KINDS)}) or a mapping with `kind`, got {spec!r}")
        return None
    kind = spec.get("kind")
    if kind not in KINDS:
        report(f"{path}.kind", f"expected one of {', '.join(KINDS)}, got {kind!r}")
        return None
    unknown = sorted(set(spec) - set(KEYS[kind]))
    for key in unknown:
        report(f"{path}.{key}", f"not a setting of topology {kind} (known: {', '.join(KEYS[kind])})")
    if unknown:
        return None
    if kind == "hub_and_spoke":
        return _hub_and_spoke(spec, path, members, uid_of, match, report)
    if kind == "sites":
        site_of = _site_of(spec, path, members, match, report, hosts, report_host)
        return None if site_of is None else _sites(spec, path, members, uid_of, site_of, report)
    if kind == "rotating":
        return _rotating(spec, path, interval, report)
    return FULL


def _hub_and_spoke(spec, path, members, uid_of, match, report) -> Topology | None:
    pattern = spec.get("hubs")
    if not _is_pattern(pattern):
        report(f"{path}.hubs", f"required: an Ansible host pattern or a list of them, got {pattern!r}")
        return None
    hubs = [name for name in match(pattern) if name in members]
    if not hubs:
        report(f"{path}.hubs", f"{pattern!r} matches no member of the group")
        return None
    return Topology("hub_and_spoke", hubs=frozenset(uid_of[h] for h in hubs if h in uid_of))


def _site_of(spec, path, members, match, report, hosts, report_host) -> dict[str, list[str]] | None:
    """Inventory hostname -> the sites it is in, from `sites` (groups or patterns) or `site_variable`
    (a host variable), or None after reporting why not."""
    names, variable = spec.get("sites"), spec.get("site_variable")
    if (names is None) == (variable is None):
        given = "both" if names is not None else "neither"
        message = "give either `sites` (inventory groups or patterns) or `site_variable` (a host variable"
        report(f"{path}.sites", f"{message} naming each member's site), got {given}")
        return None
    if variable is not None:
        return _sites_by_variable(variable, path, members, report, hosts, report_host)
    if not isinstance(names, list) or len(names) < 2 or not all(isinstance(n, str) and n for n in names):
        report(f"{path}.sites", f"required: a list of 2 or more inventory groups or patterns, got {names!r}")
        return None
    site_of: dict[str, list[str]] = {}
    ok = True
    for name in names:
        hosts_in = [h for h in match(name) if h in members]
        if not hosts_in:
            report(f"{path}.sites", f"site {name!r} has no member of the group")
            ok = False
        for host in hosts_in:
            site_of.setdefault(host, []).append(name)
    return site_of if ok else None


def _sites_by_variable(variable, path, members, report, hosts, report_host) -> dict[str, list[str]] | None:
    if not isinstance(variable, str) or not VARIABLE.match(variable):
        report(f"{path}.site_variable", f"expected the name of a host variable, got {variable!r}")
        return None
    site_of: dict[str, list[str]] = {}
    ok = True
    for host in members:
        scope = hosts[host]
        if variable in scope.failed:  # a problem already says why it could not be templated
            ok = False
            continue
        value = scope.values.get(variable)
        if not isinstance(value, str) or not value:
            what = "is not set" if value is None else f"is {value!r}"
            message = f"{what}: {path}.site_variable needs a site name (a non-empty string) for each member"
            report_host(Problem(scope.origin(variable), scope.scope, variable, message))
            ok = False
        else:
            site_of[host] = [value]
    sites = sorted({site for found in site_of.values() for site in found})
    if ok and len(sites) < 2:
        report(
            f"{path}.site_variable",
            f"{variable} puts every member in {sites}: a sites topology needs 2 or more",
        )
        return None
    return site_of if ok else None


def _sites(spec, path, members, uid_of, site_of, report) -> Topology | None:
    pairs = spec.get("pairs", 1)
    if isinstance(pairs, bool) or not isinstance(pairs, int) or not 1 <= pairs <= MAX_SITE_PAIRS:
        report(f"{path}.pairs", f"expected an integer 1-{MAX_SITE_PAIRS}, got {pairs!r}")
        return None
    ok = True
    for host in members:
        found = site_of.get(host, [])
        if len(found) != 1:
            where = "in no site" if not found else f"in sites {', '.join(found)}"
            report(f"{path}.sites", f"host {host} is {where}: each member must be in exactly one site")
            ok = False
    if not ok:
        return None
    names = sorted({site for sites in site_of.values() for site in sites})
    sites = tuple(
        (name, tuple(sorted(uid_of[h] for h in members if site_of[h] == [name] and h in uid_of)))
        for name in names
    )
    return Topology("sites", sites=sites, site_pairs=pairs)


def _rotating(spec, path, interval, report) -> Topology | None:
    peers, epoch = spec.get("peers"), spec.get("epoch", 300)
    ok = True
    if isinstance(peers, bool) or not isinstance(peers, int) or peers < 1:
        report(f"{path}.peers", f"required: the number of peers each host measures at a time (1 or more), "
               f"got {peers!r}")  # fmt: skip
        ok = False
    try:
        bounds.check("schedule.epoch_seconds", epoch)
    except ValueError as error:
        report(f"{path}.epoch", str(error))
        ok = False
    else:
        if interval is not None and epoch < 3 * interval:
            report(
                f"{path}.epoch", f"{epoch} s is shorter than three intervals of the group ({interval:g} s)"
            )
            ok = False
    return Topology("rotating", peers=peers, epoch_seconds=epoch) if ok else None


def _is_pattern(value: Any) -> bool:
    return (
        isinstance(value, str)
        and bool(value)
        or (isinstance(value, list) and bool(value) and all(isinstance(p, str) for p in value))
    )
