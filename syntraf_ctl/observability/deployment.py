"""The pack's deployment document (deploy.json): for the Grafana host and for the rule evaluator, every file
of the pack with where it goes and its mode, the directories it needs, what to prune, and the token file
(named by its database: the role takes the token from the inventory's syntraf_influxdb, never from here).
The roles syntraf_grafana and syntraf_alerting deploy exactly this; users who ship the files their own way
can read it too."""

from __future__ import annotations

from typing import Any

import yaml

from syntraf_ctl.assets import COLLECTION_DIR, host_layout
from syntraf_ctl.model import Database
from syntraf_ctl.observability import evaluator, provisioning

DOCUMENT = "deploy.json"
SCHEMA = 1
GRAFANA_PROVISIONING = "/etc/grafana/provisioning"

# pack path prefix -> directory on the host
GRAFANA_PLACES = {
    "grafana/dashboards/": f"{provisioning.DASHBOARDS_PATH}/",
    "grafana/provisioning/": f"{GRAFANA_PROVISIONING}/",
}
ALERTING_PLACES = {"rules/": f"{evaluator.RULES_DIR}/"}
ROLE_VARS = COLLECTION_DIR / "roles" / "syntraf_observability" / "vars" / "main.yml"


def deployment(paths: list[str], database: Database | None) -> dict[str, Any]:
    """The document for the pack's files `paths` (relative) and the database its data sources and evaluator
    use (None: no database, so no token and no evaluator unit)."""
    return {
        "schema": SCHEMA,
        "grafana": _side(
            paths,
            GRAFANA_PLACES,
            prune={"directory": provisioning.DASHBOARDS_PATH, "pattern": "*.json"},
            token=provisioning.token_path(database) if database else None,
        ),
        "alerting": {
            **_side(
                paths,
                ALERTING_PLACES,
                prune={"directory": evaluator.RULES_DIR, "pattern": "*.yml"},
                token=evaluator.token_path(database) if database else None,
            ),
            "unit": _unit() if database else None,
            "vmalert": evaluator.VMALERT,
            "notifier": evaluator.NOTIFIER_FILE,
            "listen": evaluator.LISTEN,
        },
        "database": database.name if database else None,
    }


def owned() -> dict[str, Any]:
    """What the pack owns on the hosts, for destroy to remove (stated by the role, in its vars/main.yml):
    on the Grafana host the pack's dashboards, its provisioning files and its token directory, on the
    evaluator its unit and its directory. Never Grafana's own files, user, database or package, nor the
    victoria-metrics package (the user may run it otherwise)."""
    return yaml.safe_load(ROLE_VARS.read_text(encoding="utf-8"))["syntraf_observability_owned"]


def _unit() -> dict[str, str]:
    """The unit goes where the probe's units go (systemd's directory for the administrator's units)."""
    path = f"{host_layout().unit_dir}/{evaluator.UNIT}"
    return {"name": evaluator.UNIT, "source": f"alerting/{evaluator.UNIT}", "path": path}


def _side(paths: list[str], places: dict[str, str], prune: dict[str, str], token: str | None) -> dict:
    files = [
        {"source": path, "path": places[prefix] + path[len(prefix) :], "mode": "0644"}
        for path in sorted(paths)
        for prefix in places
        if path.startswith(prefix)
    ]
    directories = sorted({file["path"].rsplit("/", 1)[0] for file in files})
    return {
        "files": files,
        "directories": directories,
        "prune": prune,
        "token": token,
    }
