#!/usr/bin/env bash
# Makes `moto_server` available for the blob store's S3 tests (server/tests/it/files.rs):
# moto, from PyPI, serves the S3 API on a loopback port; each test starts its own
# (ferry-testkit's S3Server).
#
#   source scripts/moto.sh && ensure_moto
#
# Installs `moto[server]` with pip (for this user) when `moto_server` is not on PATH, and
# Python's pip from Debian's packages when even pip is missing.

# shellcheck source=scripts/pip.sh
source "$(dirname "${BASH_SOURCE[0]}")/pip.sh"

_ferry_moto_say() { printf 'moto: %s\n' "$*" >&2; }

ensure_moto() {
    if command -v moto_server >/dev/null 2>&1; then
        _ferry_moto_say "moto_server is installed"
        return 0
    fi
    _ferry_moto_say "installing moto[server] from PyPI (an S3-compatible server for the tests)"
    pip_install_user 'moto[server]>=5,<6' || return 1
    command -v moto_server >/dev/null 2>&1 || {
        _ferry_moto_say "error: moto_server is still not on PATH"
        return 1
    }
}
