#!/usr/bin/env bash
# The demo: the whole daemon on a virtual dispenser (mock pins), the page on http://localhost:8080/,
# a caregiver login printed below, the first dose due within two minutes. Ctrl+C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    sudo=""; if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e .

exec .venv/bin/pillbox demo "$@"
