#!/usr/bin/env bash
# Remove the Pillbox service and program. The data (/var/lib/pillbox: the dose history) and the
# configuration (/etc/pillbox) are kept unless --purge is given.
set -euo pipefail

usage() {
    cat <<'EOF'
usage: uninstall.sh [--prefix DIR] [--purge] [--no-systemctl]
  --prefix DIR     remove what install.sh --prefix DIR installed there
  --purge          also delete /var/lib/pillbox (the database!), /etc/pillbox and the user pillbox
  --no-systemctl   never call systemctl
EOF
}

say() { printf 'pillbox-uninstall: %s\n' "$*"; }

prefix=""
purge=no
use_systemctl=yes
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) prefix=${2:?--prefix needs a folder}; shift ;;
        --purge) purge=yes ;;
        --no-systemctl) use_systemctl=no ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
    shift
done
if [ -n "$prefix" ]; then
    prefix=$(cd "$prefix" && pwd)
    use_systemctl=no
elif [ "$(id -u)" -ne 0 ]; then
    say "run this as root (sudo $0), or give --prefix DIR" >&2
    exit 1
fi

unit=$prefix/etc/systemd/system/pillbox.service
if [ "$use_systemctl" = yes ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    systemctl disable --now pillbox.service 2>/dev/null || true
fi
rm -f "$unit"
if [ "$use_systemctl" = yes ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    systemctl daemon-reload
    systemctl reset-failed pillbox.service 2>/dev/null || true
fi
if [ "$(readlink "$prefix/usr/local/bin/pillbox" 2>/dev/null)" = /opt/pillbox/venv/bin/pillbox ]; then
    rm -f "$prefix/usr/local/bin/pillbox"
fi
rm -rf "$prefix/opt/pillbox"
say "removed the service and the program"

if [ "$purge" = yes ]; then
    rm -rf "$prefix/var/lib/pillbox" "$prefix/etc/pillbox" "$prefix/etc/systemd/system/pillbox.service.d"
    if [ -z "$prefix" ] && getent passwd pillbox >/dev/null; then
        userdel pillbox
    fi
    say "purged the data, the configuration and the user pillbox"
else
    say "kept the data ($prefix/var/lib/pillbox) and the configuration ($prefix/etc/pillbox); --purge deletes them"
fi
