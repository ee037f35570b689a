#!/usr/bin/env bash
# Makes `moto_server` available for the blob store's S3 tests (server/tests/it/files.rs):
# moto, from PyPI, serves the S3 API on a loopback port; each test starts its own
# (ferry-testkit's S3Server).
#
#   source scripts/moto.sh && ensure_moto
#
# Installs `moto[server]` with pip (for this user) when `moto_server` is not on PATH, and
# Python's pip from Debian's packages when even pip is missing.

_ferry_moto_say() { printf 'moto: %s\n' "$*" >&2; }

ensure_moto() {
    if command -v moto_server >/dev/null 2>&1; then
        _ferry_moto_say "moto_server is installed"
        return 0
    fi
    if ! python3 -m pip --version >/dev/null 2>&1; then
        _ferry_moto_say "pip is missing; installing Debian's python3-pip"
        local sudo=""
        [[ $EUID -eq 0 ]] || sudo=sudo
        $sudo apt-get update || return 1
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y python3-pip || return 1
    fi
    _ferry_moto_say "installing moto[server] from PyPI (an S3-compatible server for the tests)"
    python3 -m pip install --user --quiet 'moto[server]>=5,<6' ||
        python3 -m pip install --user --quiet --break-system-packages 'moto[server]>=5,<6' ||
        return 1
    export PATH="$HOME/.local/bin:$PATH"
    command -v moto_server >/dev/null 2>&1 || {
        _ferry_moto_say "error: moto_server is still not on PATH"
        return 1
    }
}
