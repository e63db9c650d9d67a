#!/usr/bin/env bash
# Builds the container image of the geyser binary with podman and prints `image: <tag>`.
# Installs podman and debootstrap from Debian when missing; makes the base image
# localhost/debian-min:bookworm locally when it is missing (debootstrap of Debian's minbase from
# the mirror apt already uses, imported into podman: no registry is needed); copies in the
# binary cargo built (GEYSER_BIN, else `cargo build --release`); never compiles inside the image.
# Containers here need runc and ulimits no higher than the sandbox allows, so every podman call
# gets them as flags.
set -euo pipefail
cd "$(dirname "$0")/.."

BASE=localhost/debian-min:bookworm
TAG=${IMAGE_TAG:-localhost/geyser:$(git rev-parse --short HEAD 2>/dev/null || echo dev)}
sudo_cmd=""; [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
missing=""
command -v podman >/dev/null 2>&1 || missing="$missing podman"
command -v debootstrap >/dev/null 2>&1 || missing="$missing debootstrap"
command -v runc >/dev/null 2>&1 || missing="$missing runc"
if [ -n "$missing" ]; then
    echo "image: installing$missing (Debian packages)" >&2
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq $missing >/dev/null
fi
podman_() { podman --runtime runc "$@"; }

if ! podman_ image exists "$BASE"; then
    mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
    mirror=${mirror:-$(awk '$1 == "deb" { print $2; exit }' /etc/apt/sources.list 2>/dev/null)}
    mirror=${mirror:-http://deb.debian.org/debian}
    root=$(mktemp -d)
    trap '$sudo_cmd rm -rf "$root"' EXIT
    echo "image: making $BASE with debootstrap from $mirror" >&2
    $sudo_cmd debootstrap --variant=minbase bookworm "$root" "$mirror" >/dev/null
    $sudo_cmd tar -C "$root" -c . | podman_ import - "$BASE" >/dev/null
fi

BIN=${GEYSER_BIN:-}
if [ -z "$BIN" ]; then
    cargo build -q --release --bin geyser
    BIN=target/release/geyser
fi
context=$(mktemp -d)
cp Dockerfile "$context/"
cp "$BIN" "$context/geyser"
podman_ build -q --network host --format docker \
    --ulimit nofile=20000:20000 --ulimit nproc=32768:32768 \
    --build-arg BASE="$BASE" -t "$TAG" "$context" >/dev/null
rm -rf "$context"
echo "image: $TAG"
