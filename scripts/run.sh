#!/usr/bin/env bash
# The run command: builds the UI, ferry-server and the desktop app (dev profile; a first
# release build takes too long to wait for), starts the server on its embedded SQLite
# database in ./ferry-data of this clone (git-ignored), then opens the desktop app on it.
# Closing the app stops the server.
#   scripts/run.sh                 server + desktop app
#   scripts/run.sh --server-only   just the server (extra arguments go to it)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ferry/target}"
export npm_config_cache="${npm_config_cache:-$HOME/.cache/ferry/npm}"

server_only=false
if [[ ${1:-} == --server-only ]]; then
    server_only=true
    shift
fi

for tool in cc pkg-config cargo npm; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "==> $tool is missing; running scripts/setup.sh"
        bash scripts/setup.sh
        break
    fi
done

echo "==> cargo build -p ferry-server"
cargo build --locked -p ferry-server --bin ferry-server
server="$CARGO_TARGET_DIR/debug/ferry-server"

if $server_only; then
    echo "==> starting ferry-server (data in ./ferry-data; Ctrl-C stops it)"
    exec "$server" "$@"
fi

echo "==> building the UI (npm install, vite build)"
npm --prefix ui install --no-audit --no-fund
npm --prefix ui run build
echo "==> cargo build -p ferry-desktop"
cargo build --locked -p ferry-desktop

echo "==> starting ferry-server in the background (data in ./ferry-data)"
"$server" "$@" &
server_pid=$!
trap 'kill "$server_pid" 2>/dev/null || true' EXIT
echo "==> opening the desktop app (sign in with server http://127.0.0.1:8080; close it to stop)"
"$CARGO_TARGET_DIR/debug/ferry-desktop"
