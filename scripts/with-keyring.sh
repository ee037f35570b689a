#!/usr/bin/env bash
# Runs a command with a Secret Service (GNOME Keyring) it can use: a throwaway keyring,
# unlocked, in the current D-Bus session. Meant to run under `dbus-run-session`, so the
# keyring and its bus go away with the command:
#   dbus-run-session -- bash scripts/with-keyring.sh cargo test --workspace
set -euo pipefail
[[ -n ${DBUS_SESSION_BUS_ADDRESS:-} ]] || { echo "with-keyring: run me under dbus-run-session" >&2; exit 1; }
keyring_home=$(mktemp -d)
trap 'rm -rf "$keyring_home"' EXIT
# The keyring daemon keeps its files under XDG_DATA_HOME; a fresh one starts empty.
export XDG_DATA_HOME=$keyring_home
eval "$(printf 'ferry-test' | gnome-keyring-daemon --unlock --components=secrets)" >/dev/null
"$@"
