#!/usr/bin/env bash
# The local demo (README): set up, boot a 3-host lab (systemd-nspawn hosts, a VictoriaMetrics database),
# apply the lab's example mesh with syntraf-ctl, wait for measurements, show `syntraf-ctl status`, and say
# how to look further and how to tear it all down. Needs root on Debian (or a derivative).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
    echo "demo: run as root: the lab boots systemd-nspawn hosts on a private bridge" >&2
    exit 1
fi

scripts/setup.sh
CTL=.venv/bin/syntraf-ctl
INVENTORY=inventories/lab

# SYNTRAF_LAB_SUBNET picks another subnet than the lab's default 198.51.100.0/24 (e.g. while tests use it).
echo "== syntraf-ctl lab up --nodes 3"
$CTL lab up --nodes 3 ${SYNTRAF_LAB_SUBNET:+--subnet "$SYNTRAF_LAB_SUBNET"}
echo
echo "== syntraf-ctl apply -i $INVENTORY"
$CTL apply -i "$INVENTORY"
echo
echo "== waiting for every edge to report a measurement (at most 60 s)"
.venv/bin/python - "$INVENTORY" <<'PY'
import json, subprocess, sys, time

inventory = sys.argv[1]
deadline = time.monotonic() + 60
while True:
    done = subprocess.run([".venv/bin/syntraf-ctl", "status", "-i", inventory, "--format", "json"],
                          capture_output=True, text=True)
    edges = [e for group in json.loads(done.stdout or '{"groups": {}}')["groups"].values() for e in group]
    measured = [e for e in edges if e["state"] == "measuring" and e["loss_pct"] is not None]
    print(f"  {len(measured)} of {len(edges)} edges measured")
    if edges and len(measured) == len(edges):
        break
    if time.monotonic() > deadline:
        print("  not every edge measured within 60 s: see `journalctl -u 'syntraf-probe@*'` on the hosts")
        break
    time.sleep(3)
PY
sleep 2  # one more interval, so every cell shows a full one
echo
echo "== syntraf-ctl status -i $INVENTORY"
$CTL status -i "$INVENTORY"

# The observability pack (docs/observability.md) and its rule evaluator: vmalert on the lab's database, with
# the alert rules and the 1-minute recording rules. A vmalert left by an earlier demo is stopped by its pid.
OBSERVABILITY=.lab/observability
echo
echo "== syntraf-ctl observability -i $INVENTORY -o $OBSERVABILITY"
mkdir -p .lab
$CTL observability -i "$INVENTORY" -o "$OBSERVABILITY"
DB_URL=$(.venv/bin/python -c 'from syntraf_ctl.lab.state import load_state; print(load_state("lab").db_url)')
if [ -f .lab/vmalert.pid ]; then kill "$(cat .lab/vmalert.pid)" 2>/dev/null || true; fi
setsid vmalert -rule="$OBSERVABILITY/rules/*.yml" -datasource.url="$DB_URL" -remoteWrite.url="$DB_URL" \
    -datasource.queryStep=30s -notifier.url=http://127.0.0.1:9093 -httpListenAddr=127.0.0.1:8880 \
    </dev/null >.lab/vmalert.log 2>&1 &
echo $! >.lab/vmalert.pid
echo "== vmalert (pid $(cat .lab/vmalert.pid)) evaluates the rules on $DB_URL: http://127.0.0.1:8880/api/v1/alerts"

.venv/bin/python - <<'PY'
from syntraf_ctl.lab.state import load_state

lab = load_state("lab")
ssh = (f"ssh -i {lab.ssh_key} -o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no "
       f"root@{lab.hosts[0].address}")
print(f"""
Look further:
  database (InfluxDB v2 write API, VictoriaMetrics): {lab.db_url}
    every point of the last 5 minutes, one series per edge and field:
    curl -s {lab.db_url}/api/v1/export -d 'match[]={{__name__=~"syntraf.*"}}' -d start=-5m | head
    loss per edge as a time series:  {lab.db_url}/api/v1/query_range?query=syntraf_loss_pct&start=-10m&step=10s
  a host:          {ssh}
  probe logs:      {ssh} journalctl -u 'syntraf-probe@*' -n 50
  probe state:     {ssh} cat /run/syntraf/voip.state.json
  status again:    .venv/bin/syntraf-ctl status -i inventories/lab
  a change:        edit inventories/lab/group_vars/all/main.yml, then .venv/bin/syntraf-ctl apply -i inventories/lab --diff
Dashboards, provisioning and rules (docs/observability.md): .lab/observability/
  alerts now:      curl -s http://127.0.0.1:8880/api/v1/alerts
  1-minute loss:   {lab.db_url}/api/v1/query?query=100*syntraf:lost:sum1m/syntraf:packets:sum1m
  a Grafana on it (where Docker runs): docker run -d --network host \\
      -v $PWD/.lab/observability/grafana/provisioning/datasources:/etc/grafana/provisioning/datasources:ro \\
      -v $PWD/.lab/observability/grafana/provisioning/dashboards:/etc/grafana/provisioning/dashboards:ro \\
      -v $PWD/.lab/observability/grafana/dashboards:/var/lib/grafana/dashboards/syntraf:ro grafana/grafana-oss:11.6.0
    then open http://localhost:3000 (admin/admin), dashboards folder "prometheus": "syntraf mesh voip"
Tear down:
  .venv/bin/syntraf-ctl destroy -i inventories/lab   # remove syntraf from the hosts (optional)
  kill $(cat .lab/vmalert.pid)                        # stop the demo's vmalert
  .venv/bin/syntraf-ctl lab down                      # remove the lab: hosts, network, database, inventory
""")
PY
