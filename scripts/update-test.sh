#!/usr/bin/env bash
# The desktop app updating itself for real (issue 29; docs/testing.md): builds Ferry twice
# as a Debian package, an older and a newer version, both carrying a signing key made for
# this run, signs the newer one as an operator publishes an update (docs/operations.md),
# installs the older one with dpkg and runs the e2e test `update` on it
# (src-tauri/tests/e2e/update.rs): a tampered bundle is refused with nothing changed, then
# the genuine one is installed and Ferry comes back as the new version with its
# conversations and its outbox. The package is removed again at the end, pass or fail.
#
#   scripts/update-test.sh
#
# Why .deb: Tauri's updater replaces an AppImage, a .deb or an .rpm on Linux, but its
# AppImage bundler downloads its tools from the internet at build time, which this
# machine's network refuses; the .deb builds offline. Installing a .deb needs root: the
# updater asks through pkexec, a graphical sudo or sudo, so this runs as root or with
# sudo that needs no password (scripts/setup.sh installs sudo).
#
# The two builds reuse the debug build of `cargo build --workspace --bins` (only the app's
# own crate is compiled again, with the version and key of each build) and
# `tauri bundle --debug` packs them. Needs an X display, a D-Bus session and a Secret
# Service, as the other desktop e2e tests: scripts/test.sh runs it under xvfb-run and
# scripts/with-keyring.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { printf 'update test: %s\n' "$*"; }
die() { printf 'update test: error: %s\n' "$*" >&2; exit 1; }

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ferry/target}"
export npm_config_cache="${npm_config_cache:-$HOME/.cache/ferry/npm}"

if [[ $EUID -ne 0 ]] && ! sudo -n true 2>/dev/null; then
    die "installing a .deb needs root: run as root, or with sudo that asks no password"
fi
as_root() { if [[ $EUID -eq 0 ]]; then "$@"; else sudo -n "$@"; fi; }
command -v dpkg >/dev/null 2>&1 || die "dpkg is missing: this test needs Debian or Ubuntu"
if dpkg-query -W ferry >/dev/null 2>&1; then
    die "a package named ferry is installed already; remove it first (dpkg -r ferry)"
fi

work=$(mktemp -d)
cleanup() {
    if dpkg-query -W ferry >/dev/null 2>&1; then
        say "removing the test's ferry package"
        as_root dpkg -r ferry >/dev/null || echo "update test: could not remove the ferry package" >&2
    fi
    rm -rf "$work"
}
trap cleanup EXIT

old=$(python3 -c 'import json; print(json.load(open("src-tauri/tauri.conf.json"))["version"])')
new=$(python3 -c "v='$old'.split('.'); v[2]=str(int(v[2])+1); print('.'.join(v))")
feed_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
feed="http://127.0.0.1:$feed_port/updates/latest.json"

say "a signing key for this run (tauri signer generate)"
npx --prefix ui tauri signer generate --ci -p "" -w "$work/ferry.key" >/dev/null
pubkey=$(cat "$work/ferry.key.pub")

# Builds version $1 with the run's key and the feed compiled in, and packs it as a .deb.
build() {
    local version=$1 config
    config=$(python3 -c 'import json, sys; print(json.dumps({"version": sys.argv[1], "plugins": {"updater": {"pubkey": sys.argv[2], "endpoints": [sys.argv[3]]}}}))' \
        "$version" "$pubkey" "$feed")
    say "building Ferry $version (cargo build --workspace --bins, then tauri bundle --debug --bundles deb)"
    TAURI_CONFIG=$config cargo build --locked --workspace --bins
    rm -rf "$CARGO_TARGET_DIR/debug/bundle/deb"
    (cd src-tauri && npx --prefix ../ui tauri bundle --debug --bundles deb --config "$config")
    local deb
    deb=$(find "$CARGO_TARGET_DIR/debug/bundle/deb" -maxdepth 1 -name "*_${version}_*.deb" | head -n 1)
    [[ -n $deb ]] || die "tauri bundle made no .deb for $version"
    cp "$deb" "$work/"
    basename "$deb"
}
old_deb=$(build "$old" | tail -n 1)
new_deb=$(build "$new" | tail -n 1)

# Published as docs/operations.md says: the bundle, its signature bound to its version.
say "signing Ferry $new as its publisher does (tauri signer sign --app-version)"
npx --prefix ui tauri signer sign -f "$work/ferry.key" -p "" --app-version "$new" "$work/$new_deb" >/dev/null
# The tampered copy: one byte changed in the middle, with the genuine signature.
cp "$work/$new_deb" "$work/tampered-$new_deb"
python3 - "$work/tampered-$new_deb" <<'EOF'
import sys
path = sys.argv[1]
data = bytearray(open(path, "rb").read())
data[len(data) // 2] ^= 0xFF
open(path, "wb").write(data)
EOF

say "installing Ferry $old (dpkg -i $old_deb)"
as_root dpkg -i "$work/$old_deb" >/dev/null

# The test binary is built as `cargo test --workspace` builds it (the app crate again, without this run's config).
say "running the e2e test (cargo test --test e2e update -- --ignored)"
FERRY_UPDATE_FEED_PORT=$feed_port \
FERRY_UPDATE_OLD_VERSION=$old \
FERRY_UPDATE_NEW_VERSION=$new \
FERRY_UPDATE_BUNDLE="$work/$new_deb" \
FERRY_UPDATE_TAMPERED="$work/tampered-$new_deb" \
FERRY_UPDATE_SIGNATURE="$work/$new_deb.sig" \
    cargo test --locked --workspace --test e2e update -- --ignored --nocapture
