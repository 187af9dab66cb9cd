#!/usr/bin/env bash
# Build a local Debian base image with systemd as PID 1 (no registry here:
# debootstrap a root and `docker import` it). The tag names the suite:
#   build-image.sh webstack-base:bookworm    # Debian 12 (the default)
#   build-image.sh webstack-base:trixie      # Debian 13
# Skipped when an image built from the same inputs (this script, the suite and
# the host's apt sources) already exists.
set -euo pipefail

IMAGE=${1:-webstack-base:bookworm}
SUITE=${IMAGE##*:}
here=$(cd "$(dirname "$0")" && pwd)

inputs=$( { cat "$0"; echo "$SUITE"; cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null || true; } | sha256sum | cut -c1-16)
have=$(docker image inspect "$IMAGE" --format '{{index .Config.Labels "webstack.inputs"}}' 2>/dev/null || true)
if [ "$have" = "$inputs" ]; then
    echo "base image $IMAGE is up to date ($inputs)"
    exit 0
fi

host_suite=$(. /etc/os-release && echo "$VERSION_CODENAME")
# The mirror the host itself uses, so the container reaches the same archive.
mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
[ -n "$mirror" ] || mirror=$(awk '/^deb / && $3 == "'$host_suite'" {print $2; exit}' /etc/apt/sources.list)
[ -n "$mirror" ] || mirror=http://deb.debian.org/debian

root=$(mktemp -d /var/tmp/webstack-rootfs.XXXXXX)
trap 'rm -rf "$root"' EXIT
echo "debootstrap $SUITE from $mirror"
debootstrap --variant=minbase \
    --include=systemd,systemd-sysv,dbus,python3,python3-venv,ca-certificates,iproute2,procps \
    "$SUITE" "$root" "$mirror" >"$root.log" 2>&1 || { tail -20 "$root.log"; exit 1; }
rm -f "$root.log"

# Same apt sources and apt settings as the host, minus third-party repos, with
# the host's suite names (bookworm, bookworm-security, ...) turned into the image's.
rm -f "$root/etc/apt/sources.list"
for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list; do
    [ -f "$f" ] && sed "s/\b$host_suite\b/$SUITE/g" "$f" >"$root/etc/apt/sources.list.d/$(basename "$f" .list).${f##*.}"
done
cp /etc/apt/apt.conf.d/* "$root/etc/apt/apt.conf.d/" 2>/dev/null || true
# HTTPS to the registries may pass a proxy whose CA the host trusts.
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
    chroot "$root" update-ca-certificates >/dev/null
fi

: >"$root/etc/machine-id"
for unit in getty.target console-getty.service systemd-udevd.service systemd-udev-trigger.service \
            systemd-modules-load.service systemd-remount-fs.service systemd-firstboot.service \
            sys-kernel-debug.mount sys-kernel-tracing.mount; do
    ln -sf /dev/null "$root/etc/systemd/system/$unit"
done
chroot "$root" apt-get clean
rm -rf "$root"/var/lib/apt/lists/*

tar -C "$root" -c . | docker import \
    -c 'CMD ["/lib/systemd/systemd"]' -c 'ENV container=docker' \
    -c "LABEL webstack.inputs=$inputs" - "$IMAGE" >/dev/null
echo "built $IMAGE ($inputs)"
