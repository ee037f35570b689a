#!/usr/bin/env bash
# The run command: builds the UI, ferry-server and the desktop app (dev profile; a first
# release build takes too long to wait for), starts the server (by default on its
# embedded SQLite database in ./ferry-data of this clone, git-ignored, on
# 127.0.0.1:8080), then opens the desktop app on it. Closing the app stops the server.
# The app needs a graphical session (X11 or Wayland) and, to keep its sign-in, an
# unlocked keyring (a Secret Service such as GNOME Keyring; a desktop session runs one).
#   scripts/run.sh                 server + desktop app (extra arguments go to the server)
#   scripts/run.sh --server-only   just the server, e.g. on a machine without a display
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ferry/target}"
export npm_config_cache="${npm_config_cache:-$HOME/.cache/ferry/npm}"

server_only=false
if [[ ${1:-} == --server-only ]]; then
    server_only=true
    shift
fi

# Said before minutes of building, not by the app's first line afterwards.
if ! $server_only && [[ $(uname -s) == Linux && -z ${DISPLAY:-} && -z ${WAYLAND_DISPLAY:-} ]]; then
    echo "run.sh: the desktop app needs a graphical session, and neither DISPLAY nor" >&2
    echo "WAYLAND_DISPLAY is set. Run this from a desktop session, or start only the" >&2
    echo "server with: scripts/run.sh --server-only" >&2
    exit 1
fi

# setup.sh when a tool is missing, or a library the workspace compiles against: the
# desktop crate needs WebKitGTK's development files, which pkg-config alone does not bring.
needs_setup=""
for tool in cc pkg-config cargo npm; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        needs_setup="$tool is missing"
        break
    fi
done
if [[ -z $needs_setup && $(uname -s) == Linux ]]; then
    for library in webkit2gtk-4.1 javascriptcoregtk-4.1 libsoup-3.0 gtk+-3.0; do
        if ! pkg-config --exists "$library"; then
            needs_setup="pkg-config finds no $library"
            break
        fi
    done
fi
if [[ -n $needs_setup ]]; then
    echo "==> $needs_setup; running scripts/setup.sh"
    bash scripts/setup.sh
fi

# The desktop crate embeds ui/dist, so the UI is built first.
echo "==> building the UI (npm install, vite build)"
npm --prefix ui install --no-audit --no-fund
npm --prefix ui run build
# The workspace's binaries and tests, exactly scripts/test.sh's build: features resolve the
# same way, so after a test run nothing but the changed crates compiles. `-p ferry-server`
# or `-p ferry-desktop` alone, and even `--workspace --bins` without the tests' features,
# resolved other features and compiled most dependencies a second time.
echo "==> cargo build --workspace --bins --tests"
cargo build --locked --workspace --bins --tests
server="$CARGO_TARGET_DIR/debug/ferry-server"

if $server_only; then
    echo "==> starting ferry-server (Ctrl-C stops it)"
    exec "$server" "$@"
fi

# The server says where it listens and keeps its data (whatever flags or FERRY_*
# variables chose them); its first line is read for the address to sign in with, and
# the rest of its output follows on this terminal.
echo "==> starting ferry-server in the background"
coproc server_output { exec "$server" "$@"; }
server_pid=$server_output_PID
trap 'kill "$server_pid" 2>/dev/null || true' EXIT
# A copy of the coprocess's descriptor: bash does not hand its own to background jobs.
exec {from_server}<&"${server_output[0]}"
address=""
while IFS= read -r line <&"$from_server"; do
    echo "$line"
    if [[ $line =~ ^Ferry\ server\ listening\ on\ (http://[^ ]+) ]]; then
        address=${BASH_REMATCH[1]}
        break
    fi
done
if [[ -z $address ]]; then
    wait "$server_pid" || true
    echo "run.sh: ferry-server did not start (see above)" >&2
    exit 1
fi
cat <&"$from_server" &
# A server listening on every address is reached on loopback from here.
address=${address/\/\/0.0.0.0:/\/\/127.0.0.1:}
address=${address/\/\/\[::\]:/\/\/[::1]:}
echo "==> opening the desktop app (sign in with the server $address; close it to stop)"
"$CARGO_TARGET_DIR/debug/ferry-desktop"
