#!/usr/bin/env bash
# B12, the desktop app's footprint (docs/benchmarks.md): builds the UI and, in release
# mode, ferry-server, ferry-bench and the desktop app, then runs
# `ferry-bench footprint` on a virtual display (Xvfb) in a private D-Bus session with a
# throwaway, unlocked GNOME Keyring, as the tests do. It fills a store of 10,000
# conversations and 1,000,000 messages (about a minute), starts the app on it five times,
# and prints the time to the painted conversation list, idle CPU with the list alone and
# then with the first conversation open (clicked with xdotool), and idle memory.
#   scripts/footprint.sh                                   # the full size, 60 s windows
#   scripts/footprint.sh --conversations 1000 --idle-secs 20
# Arguments go to `ferry-bench footprint`; results: b12.json (override with --out).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ferry/target}"
export npm_config_cache="${npm_config_cache:-$HOME/.cache/ferry/npm}"

echo "==> building the UI (ui/dist, embedded in the app)"
npm --prefix ui install --no-audit --no-fund --loglevel=error
npm --prefix ui run build

echo "==> building ferry-server, ferry-bench and ferry-desktop (release)"
cargo build --release --locked -p ferry-server -p ferry-bench -p ferry-desktop

# The second idle window has a conversation open, clicked with xdotool.
if ! command -v xdotool >/dev/null 2>&1; then
    echo "==> installing xdotool (apt), to click a conversation open"
    apt-get install -y xdotool >/dev/null
fi

mkdir -p "$CARGO_TARGET_DIR/b12"
echo "==> ferry-bench footprint $*"
exec xvfb-run -a -s "-screen 0 1280x800x24" dbus-run-session -- \
    bash scripts/with-keyring.sh "$CARGO_TARGET_DIR/release/ferry-bench" footprint \
    --app "$CARGO_TARGET_DIR/release/ferry-desktop" \
    --click 160,140 --screenshot "$CARGO_TARGET_DIR/b12/idle.png" "$@"
