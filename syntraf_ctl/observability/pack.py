"""The whole pack as relative path -> content (pure), and the writer (the only I/O)."""

from __future__ import annotations

import json
from typing import Any

import yaml
from grafana_foundation_sdk.cog.encoder import JSONEncoder

from syntraf_ctl.model import MeshGroup
from syntraf_ctl.observability import (
    dashboards,
    deployment,
    evaluator,
    flux,
    grafana_alerts,
    influxql_alerts,
    promql,
    provisioning,
    rules,
)
from syntraf_ctl.observability.thresholds import Thresholds
from syntraf_ctl.plan import Plan
from syntraf_ctl.probe_configs import probe_configs
from syntraf_ctl.render import RenderedTree, write_tree
from syntraf_ctl.render_target import MARKER, MARKER_TEXT

BACKENDS = ("influxql", "prometheus")
RENDER_DIR = "observability"  # a render's DIR/observability/: the pack the Grafana and evaluator roles deploy


def planned_revisions(plan: Plan) -> dict[tuple[str, str], str]:
    """(host uid, group) -> the revision of the config render writes for it (what the probe reports)."""
    return {key: config.revision for key, config in probe_configs(plan).items()}


def compile_pack(
    plan: Plan, limits: dict[str, Thresholds], backends: tuple[str, ...] = BACKENDS
) -> RenderedTree:
    """Every file of the pack; the same plan and thresholds always give byte-identical files."""
    planned = planned_revisions(plan)
    enabled = [plan.model.groups[name] for name in sorted(limits)]
    tree = RenderedTree()
    tree.files["rules/syntraf-recording.yml"] = _yaml({"groups": [rules.recording_group()]})
    alert_groups = [rules.alert_group(group, limits[group.name], planned) for group in enabled]
    tree.files["rules/syntraf-alerts.yml"] = _yaml({"groups": alert_groups})
    tree.files[provisioning.pack_path("alerting")] = _yaml(
        grafana_alerts.provisioning(_grafana_groups(backends, alert_groups, enabled, limits, planned))
    )
    uids = {name: provisioning.DATASOURCE_UIDS[name] for name in backends}
    for backend in dashboards.backends(uids):
        boards = [dashboards.mesh(backend, group, limits[group.name]) for group in enabled]
        drift = promql.drift(planned) if backend.name == "prometheus" and planned else None
        boards += [
            dashboards.pair(backend),
            dashboards.host(backend),
            dashboards.probe_health(backend, drift),
        ]
        for board in boards:
            tree.files[f"grafana/dashboards/{backend.name}/{board.uid}.json"] = _json(board)
    databases = {db.name: db for host in plan.model.hosts.values() for db in host.databases}
    first = databases[sorted(databases)[0]] if databases else None
    if first:
        tree.files[provisioning.pack_path("datasources")] = _yaml(
            provisioning.datasources(first, list(backends))
        )
        tree.files["influxdb/syntraf-downsample-1m.flux"] = flux.downsample_task(first.org, first.bucket)
        tree.files[f"alerting/{evaluator.UNIT}"] = evaluator.vmalert_unit(first)
    tree.files[provisioning.pack_path("dashboards")] = _yaml(provisioning.dashboard_provider())
    tree.files[deployment.DOCUMENT] = _json(deployment.deployment(sorted(tree.files), first))
    tree.files[MARKER] = MARKER_TEXT
    return tree


def _grafana_groups(
    backends: tuple[str, ...],
    alert_groups: list[dict[str, Any]],
    enabled: list[MeshGroup],
    limits: dict[str, Thresholds],
    planned: dict[tuple[str, str], str],
) -> list[dict[str, Any]]:
    """Grafana-managed rules on one back end only (both would fire every alert twice): the rule files'
    PromQL when there is a Prometheus-compatible store, else InfluxQL."""
    if "prometheus" in backends:
        return grafana_alerts.promql_groups(alert_groups, provisioning.DATASOURCE_UIDS["prometheus"])
    uid = provisioning.DATASOURCE_UIDS["influxql"]
    return [influxql_alerts.alert_group(group, limits[group.name], planned, uid) for group in enabled]


def add_to_render(tree: RenderedTree, plan: Plan) -> RenderedTree:
    """`tree` (a render of `plan`) with the pack of every back end in RENDER_DIR, for the roles, when the
    inventory has hosts to deploy it to."""
    if not plan.pack_hosts:
        return tree
    pack = compile_pack(plan, plan.alerts)
    tree.files.update({f"{RENDER_DIR}/{path}": text for path, text in pack.files.items() if path != MARKER})
    return tree


def write_pack(tree: RenderedTree, out_dir: str) -> None:
    """Replace `out_dir` (new, empty, or an earlier render) with exactly the pack."""
    write_tree(tree, out_dir)


def _json(value: Any) -> str:
    return json.dumps(value, cls=JSONEncoder, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def _yaml(value: Any) -> str:
    return yaml.safe_dump(value, sort_keys=False, width=100_000, allow_unicode=True)
