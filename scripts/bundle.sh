#!/usr/bin/env bash
# Builds the desktop app's release bundles (`tauri build --bundles $1`, from src-tauri/),
# signed for the updater when a key is given: FERRY_UPDATER_PUBKEY (the public half, built
# into the app) and TAURI_SIGNING_PRIVATE_KEY (the private half, which signs each bundle
# and writes its .sig beside it; TAURI_SIGNING_PRIVATE_KEY_PASSWORD if it has one).
# Without them the bundles carry no key and the app says it cannot update itself
# (docs/operations.md, "Publishing an app update").
#
#   cd src-tauri && bash ../scripts/bundle.sh deb,rpm
set -euo pipefail
bundles=${1:?which bundles, e.g. deb,rpm}
config='{}'
if [[ -n ${FERRY_UPDATER_PUBKEY:-} && -n ${TAURI_SIGNING_PRIVATE_KEY:-} ]]; then
    echo "bundle: signed for the updater"
    # Node, not Python: the Windows runner's bash has it for sure (the UI needs it).
    config=$(node -e 'console.log(JSON.stringify({bundle: {createUpdaterArtifacts: true}, plugins: {updater: {pubkey: process.argv[1]}}}))' \
        "$FERRY_UPDATER_PUBKEY")
else
    echo "bundle: no updater key (FERRY_UPDATER_PUBKEY, TAURI_SIGNING_PRIVATE_KEY): these bundles cannot update themselves"
fi
exec npx --prefix ../ui tauri build --bundles "$bundles" --config "$config"
