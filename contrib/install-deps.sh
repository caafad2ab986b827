#!/usr/bin/env bash
# Install the Debian packages modelfs needs to build, mount and test.
# Idempotent: packages already present are left alone, and apt is only asked
# when something is missing. Used by the README's commands and by CI.
#
#   contrib/install-deps.sh          build + mount dependencies
#   contrib/install-deps.sh --test   also what the test suite needs
set -euo pipefail

build_pkgs=(build-essential cmake pkg-config fuse3 libfuse3-dev libcurl4-openssl-dev
            libjansson-dev libsqlite3-dev libssl-dev)
test_pkgs=(libcmocka-dev python3 python3-pytest clang libclang-rt-14-dev jq
           man-db groff-base zsh shellcheck)

want=("${build_pkgs[@]}")
if [ "${1:-}" = "--test" ]; then
    want+=("${test_pkgs[@]}")
    # Some images carry Node.js from another package source whose nodejs
    # conflicts with Debian's npm: ask apt only when either is missing.
    if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
        want+=(nodejs npm)
    fi
fi

missing=()
for p in "${want[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
        missing+=("$p")
    fi
done

if [ "${#missing[@]}" -eq 0 ]; then
    exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi
echo "installing: ${missing[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
