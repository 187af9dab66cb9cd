#!/usr/bin/env bash
# Host set-up for the demo and the tests, each step skipped when its result
# exists and its inputs haven't changed:
#   apt packages -> Docker engine answering -> .venv -> Salt wheelhouse ->
#   base image (debootstrap) -> Salt image (base + Salt).
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p .cache

step() { printf '%-28s' "$1"; }
# Run quietly; show the output only when the command fails.
quiet() { "$@" >.cache/setup.log 2>&1 || { cat .cache/setup.log; exit 1; }; }
stamp_ok() { [ -f ".cache/$1.stamp" ] && [ "$(cat ".cache/$1.stamp")" = "$2" ]; }

step "apt packages"
pkgs=(docker.io debootstrap git make python3-venv ca-certificates vagrant)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    quiet apt-get update
    quiet apt-get install -y "${missing[@]}"
    echo "installed ${missing[*]}"
else
    echo "present"
fi

step "docker engine"
if docker info >/dev/null 2>&1; then
    echo "answering"
else
    if [ -d /run/systemd/system ]; then
        systemctl start docker
    else
        # No systemd on this host: run the daemon in the background.
        nohup dockerd >/var/log/dockerd.log 2>&1 &
    fi
    for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
    docker info >/dev/null 2>&1 || { echo "dockerd did not start: see /var/log/dockerd.log"; exit 1; }
    echo "started"
fi

step "inotify instances"
# Each systemd container takes several inotify instances; the default 128
# runs out at about 20 containers (fleet + tests), failing their boot.
if [ "$(cat /proc/sys/fs/inotify/max_user_instances)" -lt 1024 ]; then
    sysctl -qw fs.inotify.max_user_instances=1024
    echo "raised to 1024"
else
    echo "enough"
fi

step "python venv (.venv)"
want=$(cat requirements.txt requirements-minion.txt | sha256sum | cut -c1-16)
if stamp_ok venv "$want" && [ -x .venv/bin/pytest ]; then
    echo "up to date"
else
    quiet python3 -m venv .venv
    quiet .venv/bin/pip install -r requirements.txt
    echo "$want" >.cache/venv.stamp
    echo "installed"
fi

step "salt wheelhouse"
want=$(sha256sum requirements-minion.txt | cut -c1-16)
if stamp_ok wheelhouse "$want" && [ -d .cache/wheelhouse ]; then
    echo "up to date"
else
    rm -rf .cache/wheelhouse
    quiet .venv/bin/pip wheel -r requirements-minion.txt -w .cache/wheelhouse
    echo "$want" >.cache/wheelhouse.stamp
    echo "built ($(ls .cache/wheelhouse | wc -l) wheels)"
fi

step "base image"
bash tools/harness/build-image.sh

step "salt image"
.venv/bin/python -m tools.harness.dockerbox build-salt-image
