#!/usr/bin/env bash
# Install everything syntraf's tests and lab need on a Debian machine: system packages (as root) and a
# Python virtual environment in .venv with syntraf-ctl and syntraf-probe installed in editable mode.
set -euo pipefail
cd "$(dirname "$0")/.."

# iptables and the netfilter-queue headers (with gcc and python3-dev, to build the Python binding): the
# WAN lab's delay line (docs/lab.md). influxdb (1.x): the WAN truth tests' and the soak's database
# (tests/support/wan_influx.py) and the observability pack's InfluxQL tests; prometheus (promtool): its rule
# tests (docs/observability.md).
APT_PACKAGES=(iperf3 victoria-metrics debootstrap systemd-container openssh-client nftables iproute2 python3-venv
    iptables libnetfilter-queue-dev gcc python3-dev prometheus influxdb)
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    missing=()
    for pkg in "${APT_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "setup: installing ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
else
    echo "setup: not root or no apt-get; skipping system packages (${APT_PACKAGES[*]})" >&2
fi

PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -e '.[test,lab]' -e ./probe
