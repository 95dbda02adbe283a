#!/usr/bin/env bash
# Set up (scripts/setup.sh), lint, then run every test: unit tests first, then the tests on real iperf3,
# network namespaces and the nspawn lab (those need root and are skipped with a reason otherwise).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/python -m pytest -m "not netns and not lab" -q "$@"
.venv/bin/python -m pytest -m "netns or lab" -q -rs "$@"
