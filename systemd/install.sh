#!/usr/bin/env bash
# Install Pillbox as a systemd service on a Raspberry Pi (Pi Zero 2 W, Pi 4, Pi 5) or any Debian.
# Run it again at any time (to update, say): it converges on the same result and never overwrites
# /etc/pillbox/pillbox.toml. See docs/install.md.
#
#   sudo systemd/install.sh                 # install, enable (and start, once configured)
#   systemd/install.sh --prefix /tmp/root   # install into a folder as if it were /, touching nothing else
set -euo pipefail

usage() {
    cat <<'EOF'
usage: install.sh [options]
  --prefix DIR                 install into DIR as if it were the root file system: no system user,
                               no apt-get, no systemctl (for tests: the venv made there only works
                               at that path, so an image must run the installer inside itself)
  --source DIR                 the Pillbox source tree (default: the folder above this script)
  --python PATH                the Python (3.11 or later) that makes the virtual environment (default: python3)
  --system-site-packages       let the venv see the distribution's packages (python3-lgpio);
                               the default on Raspberry Pi OS (/etc/rpi-issue exists)
  --no-system-site-packages    the default elsewhere
  --skip-pip                   make the venv but install nothing into it
  --pip-args "ARGS"            more arguments for pip install (e.g. "--no-index --find-links DIR")
  --no-apt                     never call apt-get
  --no-systemctl               never call systemctl
  --start                      start the service even though the config was just made from the example
  -h, --help                   this help
EOF
}

say() { printf 'pillbox-install: %s\n' "$*"; }
die() {
    printf 'pillbox-install: %s\n' "$*" >&2
    exit 1
}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source_dir=$(dirname "$here")
prefix=""
python=python3
site=""
skip_pip=no
pip_args=""
use_apt=yes
use_systemctl=yes
force_start=no

while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) prefix=${2:?--prefix needs a folder}; shift ;;
        --source) source_dir=${2:?--source needs a folder}; shift ;;
        --python) python=${2:?--python needs a program}; shift ;;
        --system-site-packages) site=yes ;;
        --no-system-site-packages) site=no ;;
        --skip-pip) skip_pip=yes ;;
        --pip-args) pip_args=${2?--pip-args needs a value}; shift ;;
        --no-apt) use_apt=no ;;
        --no-systemctl) use_systemctl=no ;;
        --start) force_start=yes ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; die "unknown option: $1" ;;
    esac
    shift
done

if [ -n "$prefix" ]; then
    mkdir -p "$prefix"
    prefix=$(cd "$prefix" && pwd)
    use_apt=no
    use_systemctl=no
elif [ "$(id -u)" -ne 0 ]; then
    die "run this as root (sudo $0), or give --prefix DIR"
fi
if [ ! -f "$source_dir/pyproject.toml" ] || [ ! -d "$source_dir/device" ]; then
    die "$source_dir is not a Pillbox source tree"
fi
if [ -z "$site" ]; then
    if [ -e /etc/rpi-issue ]; then site=yes; else site=no; fi
fi

opt=$prefix/opt/pillbox
venv=$opt/venv
etc=$prefix/etc/pillbox
units=$prefix/etc/systemd/system

# ---------------------------------------------------------------------------------------- packages
missing=()
command -v "$python" >/dev/null 2>&1 || missing+=(python3)
"$python" -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
if [ "$site" = yes ] && [ -e /etc/rpi-issue ] && ! "$python" -c 'import lgpio' 2>/dev/null; then
    missing+=(python3-lgpio) # the GPIO library of the Pi 5 (and every other Pi); the venv sees it
fi
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$use_apt" = yes ] && command -v apt-get >/dev/null 2>&1; then
        say "installing ${missing[*]} with apt-get"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
    else
        say "missing: ${missing[*]} (not installed: no apt-get here, or --prefix/--no-apt)"
    fi
fi
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || die "Pillbox needs Python 3.11 or later ($python)"

# ------------------------------------------------------------------------------------- system user
if [ -n "$prefix" ]; then
    say "prefix mode: not creating the system user 'pillbox' (on a real install: useradd --system pillbox," \
        "in group gpio if it exists)"
else
    if ! getent passwd pillbox >/dev/null; then
        useradd --system --user-group --home-dir /var/lib/pillbox --no-create-home \
            --shell /usr/sbin/nologin --comment "Pillbox dispenser" pillbox
        say "created the system user pillbox"
    fi
    if ! getent group gpio >/dev/null; then
        # The unit asks for SupplementaryGroups=gpio and would not start without the group.
        groupadd --system gpio
        say "created the group gpio (no GPIO chip is in it here: use pin_factory = \"mock\" off a Pi)"
    fi
    usermod -a -G gpio pillbox
fi

# ------------------------------------------------------------------------------------------- venv
install -d -m 0755 "$opt"
site_flag=()
[ "$site" = yes ] && site_flag=(--system-site-packages)
want="include-system-site-packages = $([ "$site" = yes ] && echo true || echo false)"
if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "${site_flag[@]}" "$venv"
    say "made the virtual environment $venv (system site packages: $site)"
elif ! grep -qx "$want" "$venv/pyvenv.cfg"; then
    "$python" -m venv "${site_flag[@]}" "$venv"
    say "updated the virtual environment $venv (system site packages: $site)"
fi
if [ "$skip_pip" = yes ]; then
    say "--skip-pip: nothing installed into the venv"
else
    # Build from a copy, so that the source tree gets no build files (and no root-owned ones).
    build=$(mktemp -d)
    trap 'rm -rf "$build"' EXIT
    tar -C "$source_dir" --exclude=__pycache__ --exclude='*.egg-info' -cf - pyproject.toml README.md device web |
        tar -C "$build" -xf -
    # shellcheck disable=SC2086 # --pip-args is a list of words
    "$venv/bin/python" -m pip install --disable-pip-version-check --no-warn-script-location -q $pip_args "$build"
    say "installed Pillbox into $venv"
fi
install -d -m 0755 "$opt/docs"
install -m 0644 "$source_dir"/docs/*.md "$opt/docs/"
install -d -m 0755 "$prefix/usr/local/bin"
ln -sfn /opt/pillbox/venv/bin/pillbox "$prefix/usr/local/bin/pillbox"

# ----------------------------------------------------------------------------------------- config
install -d -m 0750 "$etc"
install -m 0644 "$source_dir/config/example.toml" "$etc/pillbox.example.toml"
if [ -e "$etc/pillbox.toml" ]; then
    fresh=no
    say "kept $etc/pillbox.toml (never overwritten; the newest example is $etc/pillbox.example.toml)"
else
    fresh=yes
    install -m 0640 "$source_dir/config/example.toml" "$etc/pillbox.toml"
    say "made $etc/pillbox.toml from the example: edit it before starting the service"
fi
if [ -z "$prefix" ]; then
    chown root:pillbox "$etc" "$etc/pillbox.toml"
fi

# ------------------------------------------------------------------------------------------- unit
install -d -m 0755 "$units"
install -m 0644 "$here/pillbox.service" "$units/pillbox.service"
service="installed, not enabled (systemctl was not called)"
if [ "$use_systemctl" = yes ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    systemctl daemon-reload
    if [ "$fresh" = no ] || [ "$force_start" = yes ]; then
        systemctl enable pillbox.service
        # --no-block: start-up may wait minutes for a synchronised clock.
        systemctl restart --no-block pillbox.service
        service="enabled and (re)starting"
    else
        # Not even enabled: a reboot must not start the example prescription, whose first start
        # would fix the stock and the start of detection in the database.
        service="installed, not enabled or started: edit the config first"
    fi
else
    say "not calling systemctl (--prefix, --no-systemctl, or systemd is not running)"
fi

# ---------------------------------------------------------------------------------------- the end
port=$("$python" -c '
import sys, tomllib
try:
    with open(sys.argv[1], "rb") as f:
        print(int(tomllib.load(f).get("web", {}).get("port", 8080)))
except Exception:
    print(8080)
' "$etc/pillbox.toml")
name=$(hostname 2>/dev/null || echo raspberrypi)
address=$(hostname -I 2>/dev/null | awk '{print $1}' || true)
cat <<EOF

Pillbox is installed.
  program   /opt/pillbox/venv/bin/pillbox (also on the PATH as pillbox)
  config    /etc/pillbox/pillbox.toml
  data      /var/lib/pillbox (the database; back it up: /opt/pillbox/docs/backup.md)
  service   pillbox.service ($service)
  page      http://$name.local:$port/${address:+  or  http://$address:$port/}

Next steps:
  1. Edit /etc/pillbox/pillbox.toml: the prescription (docs/plans.md), the pins (docs/wiring.md),
     the time zone and the MQTT broker (docs/home-assistant.md).
  2. Check it:                      sudo pillbox check
  3. Broker password, if any:       put it alone in /etc/pillbox/mqtt-password (chmod 600) and set
                                    password_file = "/run/credentials/pillbox.service/mqtt-password"
  4. Start it, now and at boot:     sudo systemctl enable --now pillbox
     after each change to the config: sudo systemctl restart pillbox
  5. A caregiver login:             sudo -u pillbox pillbox user add NAME
  6. Check the whole installation:  sudo pillbox doctor
EOF
