#!/bin/sh
# The base image, bootstrapped from Debian's packages (no container registry needed): minbase
# bookworm with Python 3.11, the same Python as the pinned environment.
#   images/base.sh [NAME]   (default localhost/hepcourse/base:bookworm)
set -eu
name=${1:-localhost/hepcourse/base:bookworm}
podman image exists "$name" && exit 0
root=$(cd "$(dirname "$0")/.." && pwd)
rootfs=$root/build/rootfs
if ! [ -x "$rootfs/usr/bin/python3" ]; then
    rm -rf "$rootfs" && mkdir -p "$root/build"
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$rootfs" \
        >"$root/build/debootstrap.log"
fi
tar -C "$rootfs" -c . | podman import --quiet - "$name" >/dev/null
echo "$name"
