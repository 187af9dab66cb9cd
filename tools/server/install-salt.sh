#!/bin/sh
# Install Salt (requirements-minion.txt) into /opt/salt and point a masterless
# minion at this tree. Run on the server, from the checkout:
#   sudo sh tools/server/install-salt.sh            # from PyPI (builds timelib: needs gcc)
#   WHEELHOUSE=/path sudo sh tools/server/install-salt.sh   # from pre-built wheels (PyPI
#                                  # fills in when they don't fit this Python)
#   SALT_MASTER=salt.example.com sudo sh tools/server/install-salt.sh   # a minion of that master
# Also lays down systemd units for salt-minion and salt-master (not enabled), and
# gpg with the keyring directory of Salt's gpg renderer (encrypted pillar values).
# Idempotent: an existing /opt/salt with the pinned Salt is kept.
set -eu
here=$(cd "$(dirname "$0")/../.." && pwd)
want=$(sed -n 's/^salt==//p' "$here/requirements-minion.txt")

apt_install() {
    # shellcheck disable=SC2086
    dpkg -s "$@" >/dev/null 2>&1 || {
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
    }
}

if ! /opt/salt/bin/salt-call --version 2>/dev/null | grep -q " $want "; then
    apt_install python3-venv
    python3 -m venv /opt/salt
    reqs="$here/requirements-minion.txt"
    # The wheelhouse is built for one Python (the test image's): on another
    # release, PyPI and a compiler (timelib has no Linux wheel) fill the gap.
    if [ -z "${WHEELHOUSE:-}" ] ||
        ! /opt/salt/bin/pip install -q --no-index --find-links "$WHEELHOUSE" -r "$reqs" 2>/dev/null; then
        apt_install gcc libc6-dev python3-dev
        /opt/salt/bin/pip install -q ${WHEELHOUSE:+--find-links "$WHEELHOUSE"} -r "$reqs"
    fi
    for bin in salt-call salt-minion salt-master salt-key salt salt-ssh salt-run; do
        ln -sf "/opt/salt/bin/$bin" "/usr/local/bin/$bin"
    done
fi
# Salt's gpg renderer (`#!yaml|gpg` pillar files) runs the gpg binary on the
# box that renders the pillar (this one masterless, or the master) before any
# state could install it; its keys live in gpg_keydir, Salt's default here.
apt_install gnupg
install -d -m 0700 /etc/salt/gpgkeys
mkdir -p /etc/salt/minion.d
if [ -n "${SALT_MASTER:-}" ]; then
    sed "s#^master: .*#master: $SALT_MASTER#" "$here/etc/salt/fleet-minion.conf" >/etc/salt/minion.d/webstack.conf
elif [ "$here" = /opt/webstack ]; then
    install -m 0644 "$here/etc/salt/minion.d/webstack.conf" /etc/salt/minion.d/webstack.conf
else
    sed "s#/opt/webstack#$here#g" "$here/etc/salt/minion.d/webstack.conf" >/etc/salt/minion.d/webstack.conf
fi
# pip-installed Salt ships no units: ours, for salt-minion and salt-master.
for unit in salt-minion salt-master; do
    if ! cmp -s "$here/etc/systemd/$unit.service" "/etc/systemd/system/$unit.service"; then
        install -m 0644 "$here/etc/systemd/$unit.service" "/etc/systemd/system/$unit.service"
        [ ! -d /run/systemd/system ] || systemctl daemon-reload
    fi
done
/opt/salt/bin/salt-call --version
