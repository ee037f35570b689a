#!/usr/bin/env bash
# Installs a Python tool from PyPI for this user, for the scripts that need one
# (moto.sh: moto_server for the S3 tests; schemathesis.sh: schemathesis):
#
#   source scripts/pip.sh && pip_install_user 'moto[server]>=5,<6'
#
# Installs Debian's python3-pip first when even pip is missing, falls back to
# --break-system-packages where the system Python refuses user installs (PEP 668), and
# puts ~/.local/bin on PATH.

pip_install_user() {
    local spec=$1
    if ! python3 -m pip --version >/dev/null 2>&1; then
        printf 'pip: missing; installing Debian'"'"'s python3-pip\n' >&2
        local sudo=""
        [[ $EUID -eq 0 ]] || sudo=sudo
        $sudo apt-get update || return 1
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y python3-pip || return 1
    fi
    python3 -m pip install --user --quiet "$spec" ||
        python3 -m pip install --user --quiet --break-system-packages "$spec" ||
        return 1
    export PATH="$HOME/.local/bin:$PATH"
}
