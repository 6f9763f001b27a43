#!/usr/bin/env bash
# Installs what PayFleet needs on a Debian (bookworm) machine when it is missing:
# librdkafka-dev (headers, rdkafka_mock.h, pkg-config file), zlib1g-dev (gzip bills), pkg-config and kcat.
# Safe to run repeatedly; does nothing when everything is present.
set -euo pipefail

missing=()
pkg-config --exists rdkafka 2>/dev/null || missing+=(librdkafka-dev)
[[ -f /usr/include/librdkafka/rdkafka_mock.h ]] || missing+=(librdkafka-dev)
pkg-config --exists zlib 2>/dev/null || missing+=(zlib1g-dev)
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
command -v kcat >/dev/null 2>&1 || missing+=(kcat)

if ((${#missing[@]})); then
    echo "==> installing ${missing[*]}"
    sudo_cmd=()
    if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
    export DEBIAN_FRONTEND=noninteractive
    "${sudo_cmd[@]}" apt-get update -qq
    "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v swift >/dev/null 2>&1; then
    echo "swift is not on PATH: install Swift 6.3 (https://swift.org/install) and retry" >&2
    exit 1
fi

version=$(pkg-config --modversion rdkafka)
echo "==> librdkafka ${version}, $(swift --version 2>/dev/null | head -n 1)"
