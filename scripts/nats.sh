#!/usr/bin/env bash
# Makes NATS reachable on 127.0.0.1:4222 for the cluster tests (server/tests/it/cluster.rs)
# and exports FERRY_TEST_NATS_URL. The tests also start nats-server processes of their
# own (to kill and restart them), so the binary must be on PATH.
#
#   source scripts/nats.sh && ensure_nats
#
# A FERRY_TEST_NATS_URL that is already set is used as it is. Otherwise: installs Debian's
# nats-server when it is missing (apt-get), then uses a server already listening on 4222
# or starts one in the background (start-stop-daemon; there is no systemd here), with
# JetStream and its log in /var/log/nats-server.log, and waits until it answers.

_ferry_nats_say() { printf 'nats: %s\n' "$*" >&2; }

_ferry_nats_as_root() {
    if [[ $EUID -eq 0 ]]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo "$@"; else
        _ferry_nats_say "error: need root for: $*"
        return 1
    fi
}

_ferry_nats_up() { (exec 3<>/dev/tcp/127.0.0.1/4222) 2>/dev/null; }

ensure_nats() {
    if ! command -v nats-server >/dev/null 2>&1; then
        _ferry_nats_say "nats-server is not installed; installing Debian's package"
        _ferry_nats_as_root apt-get update || return 1
        _ferry_nats_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y nats-server || return 1
    fi
    if [[ -n ${FERRY_TEST_NATS_URL:-} ]]; then
        _ferry_nats_say "using FERRY_TEST_NATS_URL as set"
        return 0
    fi
    export FERRY_TEST_NATS_URL=nats://127.0.0.1:4222
    if _ferry_nats_up; then
        _ferry_nats_say "a server answers on 127.0.0.1:4222"
        return 0
    fi
    _ferry_nats_say "starting nats-server on 127.0.0.1:4222"
    _ferry_nats_as_root mkdir -p /var/lib/nats-server || return 1
    _ferry_nats_as_root start-stop-daemon --start --oknodo --background \
        --exec "$(command -v nats-server)" -- -a 127.0.0.1 -p 4222 -js \
        -sd /var/lib/nats-server -l /var/log/nats-server.log || return 1
    local deadline=$((SECONDS + 20))
    until _ferry_nats_up; do
        if ((SECONDS > deadline)); then
            _ferry_nats_say "error: nats-server did not answer within 20 s (see /var/log/nats-server.log)"
            return 1
        fi
        sleep 0.2
    done
    _ferry_nats_say "ready"
}
