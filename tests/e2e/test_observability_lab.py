"""The alert rules on the lab: real probes under systemd write to the lab's database, a fault is made on the
real network (nftables in a host's namespace) or on a probe (systemctl stop), and the real vmalert evaluates
the generated rules over that stretch. Each fault must fire exactly its alerts:

- all traffic from its peers into one host dropped: one host alert naming it, no path alert for its edges;
- 5 % of one edge's datagrams dropped: one path alert for that edge;
- one probe stopped: the probe-absent alert, never a network alert (its peers get refused connections:
  nothing, not outages).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml

from syntraf_ctl.assets import host_layout
from syntraf_ctl.lab.network import nft_apply, nft_delete_table
from syntraf_ctl.lab.tsdb import export
from syntraf_ctl.observability import deployment
from syntraf_ctl.runner import ansible_environment
from tests.observability import vmalert
from tests.support.lab_control import Lab

pytestmark = pytest.mark.lab

WINDOW_S, FOR_S = 30, 10
ALERTS = {"loss_pct": 2, "for": f"{FOR_S}s", "window": f"{WINDOW_S}s"}
# The fault lasts the window, then `for` over evaluations every 10 s, then two more evaluations: from then
# on its alerts are firing whatever the phase of the evaluations.
FAULT_S = WINDOW_S + FOR_S + 25
CLEAN_S = WINDOW_S + 10  # healthy measurements before a fault: no earlier fault is left in any window
FAULT_TABLE = "syntraf_obs_fault"
STOPPED = "lab3"


def ctl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "syntraf_ctl.cli", *args], capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="module")
def deployed(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The lab's mesh with alert thresholds on voip (bulk disabled), applied; destroyed afterwards."""
    vmalert.binary()
    inventory = tmp_path_factory.mktemp("observability") / "inventory"
    shutil.copytree(lab.inventory, inventory)
    main = inventory / "group_vars" / "all" / "main.yml"
    settings = yaml.safe_load(main.read_text())
    settings["syntraf_mesh_groups"]["voip"]["alerts"] = ALERTS
    settings["syntraf_mesh_groups"]["bulk"]["disabled"] = True
    main.write_text(yaml.safe_dump(settings))
    try:
        done = ctl("apply", "-i", str(inventory))
        assert done.returncode == 0, done.stdout + done.stderr
        yield inventory
    finally:
        lab.exec(STOPPED, ["systemctl", "start", "syntraf-probe@voip"], check=False)
        if inventory not in DESTROYED:  # the destroy test's run was the whole destroy: not twice
            ctl("destroy", "-i", str(inventory))


DESTROYED: set[Path] = set()  # inventories test_destroy_… destroyed successfully


@pytest.fixture(scope="module")
def alert_rules(deployed: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pack") / "pack"
    done = ctl("observability", "-i", str(deployed), "-o", str(out), "--backend", "prometheus")
    assert done.returncode == 0, done.stdout + done.stderr
    return out / "rules" / "syntraf-alerts.yml"


def wait_clean_mesh(lab: Lab, timeout: float = 180) -> None:
    """Until every probe reports health and, over the last CLEAN_S, every edge of voip was measured (points
    over at least half of it), always up and with under half the alert's loss: whatever a previous fault
    left behind is out of every rule's window."""
    edges = {(src, dst) for src in lab.host_names for dst in lab.host_names if src != dst}
    deadline = time.monotonic() + timeout
    while True:
        since = time.time() - CLEAN_S
        health = export(lab.db_url, '{__name__="syntraf_probe_edges_configured",group="voip"}', start=since)
        reporting = {item.labels["host"] for item in health if item.points}
        fields: dict[tuple[str, str], dict[str, list[float]]] = {}
        for item in export(lab.db_url, '{__name__=~"syntraf_(up|lost|packets)",group="voip"}', start=since):
            edge = fields.setdefault((item.labels["src"], item.labels["dst"]), {})
            edge[item.name] = [value for _, value in item.points]
        clean = {
            edge
            for edge, values in fields.items()
            if len(values.get("syntraf_up", [])) >= CLEAN_S / 2
            and all(up == 1 for up in values["syntraf_up"])
            and 100 * sum(values.get("syntraf_lost", []))
            < ALERTS["loss_pct"] / 2 * sum(values.get("syntraf_packets", [1]))
        }
        if reporting >= set(lab.host_names) and clean >= edges:
            return
        assert time.monotonic() < deadline, f"the mesh is not clean: probes {reporting}, edges {clean}"
        time.sleep(2)


def firing(lab: Lab, rules: Path, start: float, end: float) -> tuple[set, str]:
    """The (alert, who) pairs vmalert's replay of `rules` over [start, end] fires, each still firing at the
    end (alerts that stopped earlier are named as such), and a diagnosis for a failed assertion: what
    vmalert logged, every alert state and the probes' health samples over the stretch."""
    logged = vmalert.replay(rules, lab.db_url, start, end)
    last: dict[tuple[str, tuple[str, ...]], float] = {}
    report = [f"vmalert logged: {logged.strip()!r}; times in s from the fault's start"]
    wanted = '{__name__=~"ALERTS|syntraf_probe_edges_configured",group="voip"}'
    for series in export(lab.db_url, wanted, start=start - CLEAN_S):
        labels = series.labels
        who = (labels["src"], labels["dst"]) if "src" in labels else (labels["host"],)
        times = [t for t, _ in series.points if t <= end]
        during = [t for t in times if t >= start]  # ALERTS before it: the replay of an earlier fault
        if series.name == "ALERTS" and labels["alertstate"] == "firing" and during:
            key = (labels["alertname"], who)
            last[key] = max([*during, last.get(key, 0)])
        if times:
            gap = max(b - a for a, b in zip(times, times[1:])) if len(times) > 1 else 0
            state = labels.get("alertstate", "")
            report.append(
                f"{series.name} {labels.get('alertname', '')} {state} {who}: {times[0] - start:.0f} to "
                f"{times[-1] - start:.0f}, longest gap {gap:.0f}"
            )
    sums: dict[tuple[str, str], dict[str, float]] = {}
    for series in export(lab.db_url, '{__name__=~"syntraf_(lost|packets)",group="voip"}', start=start):
        edge = sums.setdefault((series.labels["src"], series.labels["dst"]), {})
        edge[series.name] = edge.get(series.name, 0) + sum(v for t, v in series.points if t <= end)
    for (src, dst), edge in sorted(sums.items()):
        lost, packets = edge.get("syntraf_lost", 0), edge.get("syntraf_packets", 0)
        report.append(f"{src} -> {dst}: {lost:.0f} of {packets:.0f} datagrams lost")
    # evaluations are 10 s apart: an alert firing at the end has a sample in its last 25 s
    alerts = {key if t >= end - 2 * FOR_S - 5 else (*key, "stopped firing") for key, t in last.items()}
    return alerts, "\n".join(report)


def alerts_of_fault(lab: Lab, rules: Path, make: Callable[[], None], undo: Callable[[], None]) -> tuple:
    """The alerts vmalert fires over a fault of FAULT_S on a clean mesh (see `firing`)."""
    wait_clean_mesh(lab)
    start = time.time()
    try:
        make()
        time.sleep(FAULT_S)
    finally:
        undo()
    return firing(lab, rules, start, time.time() - 3)


def drop_rule(lab: Lab, host: str, rule: str) -> tuple[Callable[[], None], Callable[[], None]]:
    """nftables in `host`'s namespace: `rule` on everything that arrives there, and its removal."""
    netns = lab.host(host).netns
    ruleset = (
        f"table inet {FAULT_TABLE} {{\n"
        f"  chain input {{ type filter hook input priority -10; policy accept; {rule} drop; }}\n"
        "}\n"
    )
    return (lambda: nft_apply(netns, ruleset)), (lambda: nft_delete_table(netns, "inet", FAULT_TABLE))


def test_all_traffic_into_a_host_dropped_is_one_host_alert(lab: Lab, alert_rules: Path) -> None:
    host = lab.host_names[-1]
    peers = ", ".join(address for name, address in lab.addresses.items() if name != host)
    # from its peers only: its probe still reaches the database (on the bridge) and reports the outages
    make, undo = drop_rule(lab, host, f"ip saddr {{ {peers} }}")
    alerts, report = alerts_of_fault(lab, alert_rules, make, undo)
    assert alerts == {("SyntrafHostLoss", (host,))}, report


def test_five_percent_loss_on_one_edge_is_one_path_alert(lab: Lab, alert_rules: Path) -> None:
    src, dst = lab.host_names[0], lab.host_names[1]
    # iperf3's datagrams from src only (UDP): its control connection (TCP) is left alone
    make, undo = drop_rule(
        lab, dst, f"ip saddr {lab.addresses[src]} meta l4proto udp numgen random mod 100 < 5"
    )
    alerts, report = alerts_of_fault(lab, alert_rules, make, undo)
    assert alerts == {("SyntrafPathLoss", (src, dst))}, report


def test_a_stopped_probe_is_probe_absent_not_a_network_alert(lab: Lab, alert_rules: Path) -> None:
    def make() -> None:
        lab.exec(STOPPED, ["systemctl", "stop", "syntraf-probe@voip"])

    def undo() -> None:
        lab.exec(STOPPED, ["systemctl", "start", "syntraf-probe@voip"])

    alerts, report = alerts_of_fault(lab, alert_rules, make, undo)
    assert alerts == {("SyntrafProbeAbsent", (STOPPED,))}, report


def stat(lab: Lab, host: str, path: str) -> str:
    """`<octal mode> <owner>` of `path` on `host`."""
    return lab.exec(host, ["stat", "-c", "%a %U", path]).stdout.strip()


def vmalert_rules(lab: Lab, host: str) -> list[dict]:
    """Every rule of vmalert's API on `host` (it listens on the host only)."""
    script = (
        "import json, urllib.request\n"
        "answer = json.load(urllib.request.urlopen('http://127.0.0.1:8880/api/v1/rules', timeout=5))\n"
        "print(json.dumps([rule for group in answer['data']['groups'] for rule in group['rules']]))\n"
    )
    done = lab.exec(host, ["python3", "-c", script], check=False)
    return json.loads(done.stdout) if done.returncode == 0 else []


@pytest.fixture(scope="module")
def observability_hosts(lab: Lab, deployed: Path) -> Iterator[tuple[str, str]]:
    """The first host in syntraf_grafana, the second in syntraf_alerting with vmalert installed (the lab's
    hosts have no package mirror: the binary of this machine's victoria-metrics package is put where the
    package puts it); everything the role installed is removed after the module's last test (the destroy
    test reads what the apply test installed)."""
    grafana, alerting = lab.host_names[0], lab.host_names[1]
    hosts = deployed / "hosts.yml"
    original = hosts.read_text()
    inventory = yaml.safe_load(original)
    inventory["all"]["children"].update(
        {"syntraf_grafana": {"hosts": {grafana: None}}, "syntraf_alerting": {"hosts": {alerting: None}}}
    )
    installed = lab.host(alerting).root / "usr/bin/vmalert"
    try:
        hosts.write_text(yaml.safe_dump(inventory))
        shutil.copy2(vmalert.binary(), installed)
        yield grafana, alerting
    finally:
        hosts.write_text(original)
        lab.exec(alerting, ["systemctl", "disable", "--now", "syntraf-vmalert.service"], check=False)
        for host, paths in (
            (grafana, ["/etc/grafana", "/var/lib/grafana"]),
            (
                alerting,
                ["/etc/syntraf-alerting", "/etc/systemd/system/syntraf-vmalert.service", *USER_FILES[2:]],
            ),
        ):
            lab.exec(host, ["rm", "-rf", *paths], check=False)
        lab.exec(grafana, ["userdel", "grafana"], check=False)
        lab.exec(alerting, ["systemctl", "daemon-reload"], check=False)
        installed.unlink(missing_ok=True)


def test_apply_deploys_dashboards_rules_and_a_running_evaluator(
    lab: Lab, deployed: Path, observability_hosts: tuple[str, str]
) -> None:
    """After the fault tests (the evaluator it starts writes alert states to the database they read)."""
    grafana, alerting = observability_hosts
    # check mode reports the pack's files and changes nothing on either host (issue 10)
    limit = f"{grafana}:{alerting}"
    check = ctl("apply", "-i", str(deployed), "--limit", limit, "--check")
    assert check.returncode == 0, check.stdout + check.stderr
    assert re.search(r"would change [1-9]\d* things", check.stdout), check.stdout
    assert pack_places(lab, grafana, alerting) == {}
    started = time.time()
    done = ctl("apply", "-i", str(deployed))
    assert done.returncode == 0, done.stdout + done.stderr
    token = yaml.safe_load((deployed / "group_vars/all/vault.yml").read_text())["vault_influxdb_token"]
    assert token not in done.stdout + done.stderr
    pack = "/var/lib/grafana/dashboards/syntraf"
    assert stat(lab, grafana, f"{pack}/prometheus/syntraf-prom-mesh-voip.json") == "644 root"
    assert stat(lab, grafana, "/etc/grafana/provisioning/datasources/syntraf.yaml") == "644 root"
    assert stat(lab, grafana, "/etc/grafana/provisioning/alerting/syntraf.yaml") == "644 root"
    for host, path, owner in (
        (grafana, "/etc/grafana/syntraf/influxdb-0.token", "grafana"),
        (alerting, "/etc/syntraf-alerting/secrets/influxdb-0.token", "root"),
    ):
        assert stat(lab, host, path) == f"600 {owner}"
        same = lab.exec(host, ["cat", path]).stdout == token
        assert same, f"{host}:{path} does not hold the inventory's token"
    assert stat(lab, alerting, "/etc/syntraf-alerting/rules/syntraf-alerts.yml") == "644 root"
    assert lab.exec(alerting, ["systemctl", "is-active", "syntraf-vmalert.service"], check=False).stdout == (
        "active\n"
    )
    # evaluating: every rule queried the lab's database without error since the apply
    deadline = time.monotonic() + 120
    while True:
        rules = vmalert_rules(lab, alerting)
        evaluated = [rule for rule in rules if rule["health"] == "ok" and _when(rule) > started]
        if rules and len(evaluated) == len(rules):
            break
        assert time.monotonic() < deadline, rules
        time.sleep(2)
    assert {rule["name"] for rule in rules} >= {"SyntrafHostLoss", "syntraf:lost:sum1m"}
    again = ctl("apply", "-i", str(deployed), "--limit", limit)
    assert again.returncode == 0 and "changed 0 things" in again.stdout, again.stdout + again.stderr


def test_destroy_removes_the_pack_and_leaves_the_users_files(
    lab: Lab, deployed: Path, observability_hosts: tuple[str, str]
) -> None:
    """After the apply above, last in this module: destroy (the fixture's, run here by hand: the playbook
    needs no render and nothing from syntraf-ctl) removes every file and the unit the pack installed, and
    leaves Grafana's and the user's own files."""
    grafana, alerting = observability_hosts
    assert set(pack_places(lab, grafana, alerting)) == {
        *((grafana, path) for path in OWNED["grafana"]["paths"]),
        *((alerting, path) for path in [UNIT_PATH, *OWNED["alerting"]["paths"]]),
    }
    users = {grafana: USER_FILES[:2], alerting: USER_FILES[2:]}
    for host, paths in users.items():
        lab.exec(host, ["sh", "-c", 'for f in "$@"; do echo mine > "$f"; done', "-", *paths])
    playbook = [
        str(Path(sys.executable).with_name("ansible-playbook")),
        "-i",
        str(deployed),
        "syntraf.mesh.destroy",
    ]
    done = subprocess.run(
        playbook, capture_output=True, text=True, timeout=600, env={**os.environ, **ansible_environment()}
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    DESTROYED.add(deployed)
    assert pack_places(lab, grafana, alerting) == {}
    assert lab.exec(alerting, ["systemctl", "is-active", OWNED["alerting"]["unit"]], check=False).stdout == (
        "inactive\n"
    )
    for host, paths in users.items():
        assert lab.exec(host, ["cat", *paths]).stdout == "mine\n" * len(paths), host


OWNED = deployment.owned()
UNIT_PATH = f"{host_layout().unit_dir}/{OWNED['alerting']['unit']}"  # where apply puts vmalert's unit
# Grafana's and the user's files beside the pack's: a provisioning file, Grafana's database, a vmalert binary
USER_FILES = [
    "/etc/grafana/provisioning/datasources/mine.yaml",
    "/var/lib/grafana/grafana.db",
    "/usr/local/bin/my-vmalert-wrapper",
]


def pack_places(lab: Lab, grafana: str, alerting: str) -> dict[tuple[str, str], str]:
    """(host, path) -> `stat` of each place the pack owns that exists on its host."""
    wanted = [(grafana, path) for path in OWNED["grafana"]["paths"]]
    wanted += [(alerting, path) for path in [UNIT_PATH, *OWNED["alerting"]["paths"]]]
    found = {}
    for host, path in wanted:
        done = lab.exec(host, ["stat", "-c", "%a %U", path], check=False)
        if done.returncode == 0:
            found[(host, path)] = done.stdout.strip()
    return found


def _when(rule: dict) -> float:
    """A rule's last evaluation as Unix seconds (vmalert's RFC 3339 with nanoseconds; 0001-01-01: never)."""
    stamp = rule["lastEvaluation"][:26].rstrip("Z")
    return datetime.fromisoformat(stamp).replace(tzinfo=timezone.utc).timestamp()
