#!/usr/bin/env bash
# Host set-up for the demo and the tests, each step skipped when its result
# exists and its inputs haven't changed:
#   apt packages -> Docker engine answering -> .venv -> Salt wheelhouse ->
#   base images (debootstrap: Debian 12 and 13) -> the wheelhouse's Python 3.13
#   wheels (built in a Debian 13 container) -> Salt images (base + Salt).
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

step "base images"
# Both at once: debootstrap mostly waits on the mirror.
bash tools/harness/build-image.sh webstack-base:bookworm >.cache/image-bookworm.log 2>&1 & bookworm=$!
bash tools/harness/build-image.sh webstack-base:trixie >.cache/image-trixie.log 2>&1 & trixie=$!
ok=0
wait $bookworm || ok=1
wait $trixie || ok=1
sed '2,$s/^/                            /' .cache/image-bookworm.log
sed 's/^/                            /' .cache/image-trixie.log
[ $ok = 0 ] || exit 1

step "salt wheelhouse (trixie)"
# Debian 13's Python (3.13) needs its own builds of the compiled wheels (and
# crypt-r), made in a throw-away container of that image.
want=$( { cat .cache/wheelhouse.stamp; docker image inspect -f '{{.Id}}' webstack-base:trixie; } | sha256sum | cut -c1-16)
if stamp_ok wheelhouse-trixie "$want" && compgen -G ".cache/wheelhouse/*-cp313-*.whl" >/dev/null; then
    echo "up to date"
else
    quiet docker run --rm --network bridge -v "$PWD/requirements-minion.txt:/tmp/requirements.txt:ro" \
        -v "$PWD/.cache/wheelhouse:/wheelhouse" webstack-base:trixie sh -ec '
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc libc6-dev python3-dev >/dev/null
        python3 -m venv /tmp/venv
        /tmp/venv/bin/pip wheel -q --find-links /wheelhouse -r /tmp/requirements.txt -w /wheelhouse'
    echo "$want" >.cache/wheelhouse-trixie.stamp
    echo "built ($(ls .cache/wheelhouse/*-cp313-*.whl | wc -l) Python 3.13 wheels)"
fi

step "salt images"
.venv/bin/python -m tools.harness.dockerbox build-salt-image
