"""Grafana-managed alert provisioning: the vmalert/Prometheus alert rules, same expressions, evaluated by
Grafana on the PromQL data source."""

from __future__ import annotations

import hashlib
from typing import Any

FOLDER = "syntraf"
LOOKBACK_S = 86400  # a relative range at least as long as any rule window (thresholds allow up to 24h)


def provisioning(groups: list[dict[str, Any]], datasource_uid: str) -> dict[str, Any]:
    """Grafana's alerting provisioning file for the rule groups of rules.alert_group."""
    return {
        "apiVersion": 1,
        "groups": [
            {
                "orgId": 1,
                "name": group["name"],
                "folder": FOLDER,
                "interval": group["interval"],
                "rules": [_rule(group["name"], rule, datasource_uid) for rule in group["rules"]],
            }
            for group in groups
        ],
    }


def _rule(group: str, rule: dict[str, Any], datasource_uid: str) -> dict[str, Any]:
    """Each expression returns only the series in trouble, so the condition is "a value exists" (> -1:
    every value these expressions return is a loss, a jitter, a count or a sample, none below 0)."""
    digest = hashlib.sha256(f"{group}/{rule['alert']}".encode()).hexdigest()[:24]
    return {
        "uid": f"syntraf-{digest}",
        "title": f"{rule['alert']} ({group})",
        "condition": "C",
        "data": [
            {
                "refId": "A",
                "relativeTimeRange": {"from": LOOKBACK_S, "to": 0},
                "datasourceUid": datasource_uid,
                "model": {"refId": "A", "expr": rule["expr"], "instant": True},
            },
            {
                "refId": "C",
                "relativeTimeRange": {"from": 0, "to": 0},
                "datasourceUid": "__expr__",
                "model": {
                    "refId": "C",
                    "type": "threshold",
                    "expression": "A",
                    "conditions": [{"evaluator": {"type": "gt", "params": [-1]}}],
                },
            },
        ],
        "noDataState": "OK",
        "execErrState": "Error",
        "for": rule["for"],
        "labels": rule["labels"],
        "annotations": rule["annotations"],
    }
