#!/usr/bin/env bash
# http-ok ADDRESS PATH: exits 0 when `GET PATH` on ADDRESS (host:port, as FERRY_BIND
# takes it) answers with a 2xx status within 3 seconds, 1 otherwise.
#
# The health check of every image in deploy/ (Ferry's /readyz, NATS's /healthz, HAProxy's
# monitor URI). Plain bash over /dev/tcp, so the images need no curl and its libraries.
# A wildcard address (0.0.0.0, [::]) is checked on loopback.
set -euo pipefail
address=${1:?usage: http-ok HOST:PORT PATH}
path=${2:-/}
port=${address##*:}
host=${address%:*}
host=${host#[}
host=${host%]}
case $host in
    "" | 0.0.0.0 | "*") host=127.0.0.1 ;;
    ::) host=::1 ;;
esac
# shellcheck disable=SC2016 # expanded by the inner bash
exec timeout 3 bash -c '
    exec 3<>"/dev/tcp/$0/$1"
    printf "GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n" "$2" >&3
    IFS=" " read -r _ status _ <&3
    [[ $status == 2[0-9][0-9] ]]
' "$host" "$port" "$path"
