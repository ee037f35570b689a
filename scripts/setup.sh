#!/usr/bin/env bash
# Installs what building and testing Ferry needs on Debian or Ubuntu, skipping whatever
# is already there; safe to run again. Runs as root, or through sudo otherwise.
# Rust itself is not installed here: its installer's download host is not reachable
# from every machine this runs on, so a missing toolchain is reported instead.
set -euo pipefail

say() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

as_root() {
    if [[ $EUID -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root for: $*  (run this script as root, or install sudo)"
    fi
}

# Packages for the workspace as it is now: a C toolchain and pkg-config for crates with
# native parts, git and curl, Postgres for the server's tests, and a D-Bus session with
# GNOME Keyring (the Secret Service) for the OS-keyring tests of the client and CLI.
packages=(build-essential pkg-config curl ca-certificates git postgresql postgresql-client
    dbus dbus-x11 gnome-keyring)
# The desktop app (src-tauri/): Tauri 2's WebKitGTK stack, a colour emoji font (without
# one, emoji render as empty boxes), and for its end-to-end test a virtual display (Xvfb)
# and WebKitWebDriver, with xclip to put a screenshot on its clipboard. Node and npm
# build the UI (ui/).
packages+=(libwebkit2gtk-4.1-dev libssl-dev libayatana-appindicator3-dev librsvg2-dev
    libxdo-dev libgtk-3-dev file xvfb xauth webkit2gtk-driver fonts-noto-color-emoji xclip)
command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)
# The server's admin console is tested in a real browser: Debian's Chromium, headless,
# through chromedriver.
packages+=(chromium chromium-driver)
# The Windows build and the macOS check (scripts/cross.sh) run in a Debian sid root that
# debootstrap makes under ~/.cache/ferry/cross; its toolchain and Wine go in that root.
packages+=(debootstrap)
# The self-update test (scripts/update-test.sh) installs the app's .deb and lets the app
# update itself; the updater asks for an administrator through pkexec, a graphical sudo
# or sudo, and sudo is the one that works headless (as root, without a password).
packages+=(sudo)

is_installed() {
    [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" == "install ok installed" ]]
}

command -v apt-get >/dev/null 2>&1 \
    || die "apt-get not found: this script supports Debian and Ubuntu only; install these yourself: ${packages[*]}"

missing=()
for package in "${packages[@]}"; do
    is_installed "$package" || missing+=("$package")
done

if [[ ${#missing[@]} -eq 0 ]]; then
    say "apt packages already installed: ${packages[*]}"
else
    say "refreshing the apt package lists (apt-get update)"
    as_root apt-get update
    say "installing apt packages: ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
fi

if ! command -v cargo >/dev/null 2>&1; then
    if [[ -x "$HOME/.cargo/bin/cargo" ]]; then
        die "Rust is installed in ~/.cargo but not on PATH; run: source \"\$HOME/.cargo/env\""
    fi
    die "cargo not found. Install Rust with rustup (https://rustup.rs), open a new shell, and run this script again."
fi
say "Rust found: $(cargo --version)"

for component in fmt clippy; do
    cargo "$component" --version >/dev/null 2>&1 \
        || die "cargo $component is missing; run: rustup component add rustfmt clippy"
done
say "rustfmt and clippy found"

node_major=$(node --version 2>/dev/null | sed 's/^v\([0-9]*\).*/\1/')
[[ ${node_major:-0} -ge 20 ]] \
    || die "Node.js 20 or newer is needed for the UI (found: $(node --version 2>/dev/null || echo none))"
say "Node.js found: $(node --version)"

if ! command -v tauri-driver >/dev/null 2>&1; then
    say "installing tauri-driver (WebDriver for the desktop app's end-to-end test)"
    cargo install tauri-driver --version '^2' --locked
fi
say "tauri-driver found"
say "done"
