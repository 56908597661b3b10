#!/usr/bin/env bash
# The demo for now: check the example plan, then simulate two weeks of it on a virtual clock
# (an abrupt stop, a skipped dose, a refill and a power cut), events as JSON lines, summary at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    sudo=""; if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    $sudo apt-get update -qq && $sudo apt-get install -y -qq python3-venv
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e .

.venv/bin/pillbox check --config config/example.toml
echo
.venv/bin/pillbox simulate --config config/example.toml --scenario config/example-scenario.toml
