"""Grafana-managed alert provisioning: the rule file envelope, the pieces of a rule's data (queries and
server-side expressions), and the vmalert/Prometheus alert rules as Grafana rules on the PromQL data source
(same expressions). The InfluxQL rules are built from the same pieces in influxql_alerts."""

from __future__ import annotations

import hashlib
from typing import Any

FOLDER = "syntraf"
LOOKBACK_S = 86400  # a relative range at least as long as any rule window (thresholds allow up to 24h)
EXPRESSION = "__expr__"  # Grafana's server-side expressions: no data source to provision


def provisioning(groups: list[dict[str, Any]]) -> dict[str, Any]:
    """Grafana's alerting provisioning file for rule groups {name, interval, rules (Grafana rules)}."""
    return {
        "apiVersion": 1,
        "groups": [
            {
                "orgId": 1,
                "name": group["name"],
                "folder": FOLDER,
                "interval": group["interval"],
                "rules": group["rules"],
            }
            for group in groups
        ],
    }


def promql_groups(groups: list[dict[str, Any]], datasource_uid: str) -> list[dict[str, Any]]:
    """The rule groups of rules.alert_group as Grafana rule groups. Each expression returns only the series
    in trouble, so the condition is "a value exists" (> -1: every value these expressions return is a loss,
    a jitter, a count or a sample, none below 0)."""
    return [
        {
            **group,
            "rules": [
                rule(
                    group["name"],
                    alert["alert"],
                    [
                        query("A", datasource_uid, LOOKBACK_S, {"expr": alert["expr"], "instant": True}),
                        threshold("C", "A", "gt", -1),
                    ],
                    alert,
                )
                for alert in group["rules"]
            ],
        }
        for group in groups
    ]


def rule(
    group: str, title: str, data: list[dict[str, Any]], alert: dict[str, Any], no_data: str = "OK"
) -> dict[str, Any]:
    """One Grafana rule: its condition is the last item of `data`; `alert` gives for, labels, annotations;
    `no_data` is the state when the queries return nothing."""
    digest = hashlib.sha256(f"{group}/{title}".encode()).hexdigest()[:24]
    return {
        "uid": f"syntraf-{digest}",
        "title": f"{title} ({group})",
        "condition": data[-1]["refId"],
        "data": data,
        "noDataState": no_data,
        "execErrState": "Error",
        "for": alert["for"],
        "labels": alert["labels"],
        "annotations": alert["annotations"],
    }


def query(ref: str, datasource_uid: str, seconds: int, model: dict[str, Any]) -> dict[str, Any]:
    """A data source query over the last `seconds` (what $timeFilter or the range covers)."""
    return {
        "refId": ref,
        "relativeTimeRange": {"from": seconds, "to": 0},
        "datasourceUid": datasource_uid,
        "model": {"refId": ref, **model},
    }


def reduce(ref: str, source: str) -> dict[str, Any]:
    """Each series of `source` to its last number (nulls, from edges without packets, dropped)."""
    return _expression(
        ref, {"type": "reduce", "expression": source, "reducer": "last", "settings": {"mode": "dropNN"}}
    )


def math(ref: str, expression: str) -> dict[str, Any]:
    """Series are joined on their labels when one label set is a subset of the other (Grafana's math)."""
    return _expression(ref, {"type": "math", "expression": expression})


def threshold(ref: str, source: str, comparison: str, value: float) -> dict[str, Any]:
    """`source` `comparison` (gt, lt) `value`: the firing instances."""
    evaluator = {"type": comparison, "params": [value]}
    return _expression(
        ref, {"type": "threshold", "expression": source, "conditions": [{"evaluator": evaluator}]}
    )


def _expression(ref: str, model: dict[str, Any]) -> dict[str, Any]:
    return {
        "refId": ref,
        "relativeTimeRange": {"from": 0, "to": 0},
        "datasourceUid": EXPRESSION,
        "model": {"refId": ref, **model},
    }
