"""Grafana provisioning files: the data sources (tokens only by reference to a mode-0600 file) and a
dashboard provider reading the generated dashboards from a directory."""

from __future__ import annotations

from typing import Any

from syntraf_ctl.model import Database

GRAFANA_SECRETS = "/etc/grafana/syntraf"  # where the deployer puts each database's token, 0600 grafana
DASHBOARDS_PATH = "/var/lib/grafana/dashboards/syntraf"
DATASOURCE_UIDS = {"prometheus": "syntraf-prometheus", "influxql": "syntraf-influxql"}
KINDS = ("alerting", "dashboards", "datasources")  # the pack's one provisioning file of each kind


def pack_path(kind: str) -> str:
    """Where the pack holds its provisioning file of `kind` (one of KINDS)."""
    return f"grafana/provisioning/{kind}/syntraf.yaml"


def token_path(database: Database) -> str:
    return f"{GRAFANA_SECRETS}/{database.name}.token"


def datasources(database: Database, backends: list[str]) -> dict[str, Any]:
    """One data source per back end, all on `database` (the write URL: VictoriaMetrics answers PromQL on it,
    InfluxDB 2 answers InfluxQL for the bucket through its DBRP mapping)."""
    token = f"$__file{{{token_path(database)}}}"  # Grafana reads the file at start-up: no token in here
    tls = {"tlsSkipVerify": True} if not database.verify_tls else {}
    sources = {
        "prometheus": {
            "name": f"syntraf {database.name} (PromQL)",
            "type": "prometheus",
            "uid": DATASOURCE_UIDS["prometheus"],
            "access": "proxy",
            "url": database.url,
            "jsonData": {"httpMethod": "POST", "timeInterval": "1s", **tls},
        },
        "influxql": {
            "name": f"syntraf {database.name} (InfluxQL)",
            "type": "influxdb",
            "uid": DATASOURCE_UIDS["influxql"],
            "access": "proxy",
            "url": database.url,
            "jsonData": {
                "dbName": database.bucket,
                "httpMode": "POST",
                "httpHeaderName1": "Authorization",
                **tls,
            },
            "secureJsonData": {"httpHeaderValue1": f"Token {token}"},
        },
    }
    return {"apiVersion": 1, "datasources": [sources[name] for name in backends]}


def dashboard_provider() -> dict[str, Any]:
    return {
        "apiVersion": 1,
        "providers": [
            {
                "name": "syntraf",
                "type": "file",
                "disableDeletion": True,
                "allowUiUpdates": False,
                "updateIntervalSeconds": 60,
                "options": {"path": DASHBOARDS_PATH, "foldersFromFilesStructure": True},
            }
        ],
    }
