#!/usr/bin/env bash
# The test command: what the README names and what CI runs (.ci/run). Checks the build
# tools, makes Postgres available, then runs each check in order, stops at the first
# failure and always ends with a summary. Extra arguments go to `cargo test` only:
#   scripts/test.sh -p ferry-server -- --nocapture
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Caches outside the clone, so that a fresh clone (as CI makes) still builds incrementally.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ferry/target}"
export npm_config_cache="${npm_config_cache:-$HOME/.cache/ferry/npm}"

# shellcheck source=scripts/postgres.sh
source scripts/postgres.sh
# shellcheck source=scripts/nats.sh
source scripts/nats.sh
# shellcheck source=scripts/moto.sh
source scripts/moto.sh
# shellcheck source=scripts/smtp.sh
source scripts/smtp.sh

step_names=()
step_results=()
step_seconds=()
current_step=""
current_start=0

# The background cross builds (see start_cross), stopped with the script.
cross_pid=""
stop_cross() { [[ -z $cross_pid ]] || kill -- -"$cross_pid" 2>/dev/null || true; }

summary() {
    local status=$? i
    stop_cross
    if [[ -n $current_step ]]; then
        # Interrupted (or killed) in the middle of a step.
        step_names+=("$current_step")
        step_results+=(FAIL)
        step_seconds+=($((SECONDS - current_start)))
        [[ $status -ne 0 ]] || status=1
    fi
    echo
    echo "==> summary"
    for i in "${!step_names[@]}"; do
        printf '  %s %5ss  %s\n' "${step_results[i]}" "${step_seconds[i]}" "${step_names[i]}"
    done
    if [[ $status -eq 0 ]]; then
        echo "all steps passed in ${SECONDS}s"
    else
        echo "FAILED after ${SECONDS}s (stopped at the first failing step)"
    fi
    exit "$status"
}
trap summary EXIT

# run_step NAME COMMAND...: prints a banner, runs COMMAND, records PASS/FAIL and the time,
# and stops the script if it failed.
run_step() {
    local name=$1 result=PASS
    shift
    echo
    echo "==> $name"
    current_step=$name
    current_start=$SECONDS
    "$@" || result=FAIL
    step_names+=("$name")
    step_results+=("$result")
    step_seconds+=($((SECONDS - current_start)))
    current_step=""
    [[ $result == PASS ]] || exit 1
}

# Runs scripts/setup.sh only when a build tool (or the colour emoji font the desktop
# app's screenshots need) is missing, to keep CI fast.
build_tools() {
    local tool missing=()
    for tool in cc pkg-config cargo dbus-run-session gnome-keyring-daemon npm xvfb-run \
        WebKitWebDriver tauri-driver xclip debootstrap chromium chromedriver sudo; do
        command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
    done
    [[ -n "$(fc-list ':charset=1f600:color=true' 2>/dev/null)" ]] || missing+=("a colour emoji font")
    if [[ ${#missing[@]} -eq 0 ]]; then
        echo "build tools, keyring, Node, Xvfb, xclip, the WebDriver tools, Chromium, debootstrap, sudo and an emoji font are present"
        return 0
    fi
    echo "missing: ${missing[*]}; running scripts/setup.sh"
    bash scripts/setup.sh
}

if [[ ${CI:-} == true ]]; then
    echo "==> versions"
    for tool in cargo rustc psql; do
        if command -v "$tool" >/dev/null 2>&1; then
            "$tool" --version || echo "$tool: --version failed"
        else
            echo "$tool: not installed"
        fi
    done
fi

run_step "build tools" build_tools
run_step "postgres" ensure_postgres
run_step "nats" ensure_nats
run_step "moto (S3 for the tests)" ensure_moto
run_step "aiosmtpd (SMTP for the mail tests)" ensure_aiosmtpd
# The UI: its own tests, then the build the desktop crate embeds (src-tauri needs ui/dist
# before it compiles).
run_step "ui: npm install" npm --prefix ui install --no-audit --no-fund
run_step "ui: vitest" npm --prefix ui test
# Types, the commands' generated bindings among them (src-tauri/src/command_bindings.rs).
run_step "ui: type check" npm --prefix ui run check
run_step "ui: build" npm --prefix ui run build

# Windows and macOS (scripts/cross.sh, docs/testing.md): the Debian sid root, the Windows
# builds of the CLI, the client core, their test suites and the desktop app, and the
# macOS check. Cold, they
# take longer than all the Linux steps, so they run beside them at idle CPU priority
# (taking what the Linux steps leave) and a step at the end waits for them. After the UI
# build: the desktop app embeds ui/dist.
cross_log=$CARGO_TARGET_DIR/cross.log
start_cross() {
    mkdir -p "$CARGO_TARGET_DIR"
    # A process group of its own, so that a failing Linux step stops it with the script.
    # Not `windows`: `tests` builds ferry.exe and the client core too (the CLI's tests run
    # the binary), and a second cargo run with fewer packages would resolve features apart
    # and build the shared dependencies again.
    setsid bash scripts/cross.sh root std tests clippy desktop macos >"$cross_log" 2>&1 &
    cross_pid=$!
    echo "started (pid $cross_pid); its output: $cross_log"
}
finish_cross() {
    local status=0
    wait "$cross_pid" || status=$?
    cross_pid=""
    if [[ $status -ne 0 ]]; then
        tail -60 "$cross_log"
        return "$status"
    fi
    grep -E '^(cross: |  )' "$cross_log"
}
# FERRY_SKIP_CROSS=why skips them, saying why in the summary: for GitHub's Ubuntu job,
# whose Windows and macOS jobs build and test natively.
skip_step() {
    echo
    echo "==> $1"
    echo "skipped: $FERRY_SKIP_CROSS"
    step_names+=("$1 (skipped: $FERRY_SKIP_CROSS)")
    step_results+=(SKIP)
    step_seconds+=(0)
}
cross_step=run_step
[[ -z ${FERRY_SKIP_CROSS:-} ]] || cross_step=skip_step
$cross_step "windows and macos: builds started in the background" start_cross
run_step "bench peer: npm install" npm --prefix bench/peers/socketio install --no-audit --no-fund
run_step "workflows: actionlint" bash scripts/lint-workflows.sh
run_step "cargo fmt --check" cargo fmt --all --check
run_step "cargo clippy" cargo clippy --workspace --all-targets --locked -- -D warnings
# The client, CLI and desktop app keep tokens in the OS keyring, so the tests run in a
# private D-Bus session with a throwaway, unlocked GNOME Keyring (scripts/with-keyring.sh),
# on a virtual display for the desktop app's WebDriver test. Its screenshots go to
# $FERRY_E2E_ARTIFACTS.
export FERRY_E2E_ARTIFACTS="${FERRY_E2E_ARTIFACTS:-$CARGO_TARGET_DIR/e2e-screenshots}"
run_step "cargo test" xvfb-run -a -s "-screen 0 1280x800x24" \
    dbus-run-session -- bash scripts/with-keyring.sh cargo test --workspace --locked "$@"
echo "desktop screenshots: $FERRY_E2E_ARTIFACTS"

# The desktop app updating itself as installed software (scripts/update-test.sh): two
# .deb builds with a key made for the run, the older installed with dpkg; a tampered
# update is refused, the genuine one installed, and Ferry comes back as the new version
# with its conversations and outbox. The package is removed again at the end.
run_step "desktop: the installed app updates itself" xvfb-run -a -s "-screen 0 1280x800x24" \
    dbus-run-session -- bash scripts/with-keyring.sh bash scripts/update-test.sh

# The container image and the compose stack (docs/operations.md): the images with this
# build's ferry-server, the two-node stack behind HAProxy driven by the CLI, a node
# stopped with SIGTERM and nothing lost. Installs and starts a container engine when
# there is none, so it runs in CI as well.
run_step "containers: image and compose stack" bash scripts/container-test.sh

# The OpenAPI document against the server it describes (scripts/schemathesis.sh, about a
# minute): schemathesis's short run with every check; the long run is in docs/testing.md.
# It runs the debug ferry-server the container test built.
run_step "schemathesis: the OpenAPI document" bash scripts/schemathesis.sh

# The quick benchmarks' memory and correctness checks, Ferry and the Socket.IO peer side
# by side (docs/benchmarks.md): a lost, duplicated or reordered message, a dropped
# connection or Ferry's server memory over 24 KiB per idle connection fails the step, and
# in B3e and B4e (Ferry's conversations end-to-end encrypted) a sealed entry that does not
# open to what was sent, or a group that cannot be made. B8e is the chaos soak's short run
# with every conversation encrypted: three nodes, a node killed, NATS and Postgres
# restarted and sockets cut while 6,000 sealed sends go (about 30 s).
# Latency is printed, never asserted (debug build, shared CI machine).
bench_checks() {
    # Reuses the test step's build: over the whole workspace with its tests, features
    # resolve as for `cargo test --workspace`, so only the ferry-bench binary itself is
    # new here. (`-p ferry-server -p ferry-bench` resolved them for those two alone and
    # rebuilt every dependency a second time.)
    cargo build --locked --workspace --bins --tests || return 1
    # Every connection is a file on both sides.
    ulimit -n "$(ulimit -Hn)"
    "$CARGO_TARGET_DIR/debug/ferry-bench" --quick --check --max-rss-kib 24 \
        --scenarios B1,B3,B3e,B4e,B8e,B9k --targets ferry,socketio \
        --out "$CARGO_TARGET_DIR/bench-quick.json"
}
run_step "bench: quick checks" bench_checks

# The cross builds started after the UI build, then the Windows CLI under Wine against
# this build's Linux ferry-server, with a Linux CLI as the other person, and the client
# core's and the CLI's own tests under Wine.
$cross_step "windows and macos: cross builds (scripts/cross.sh)" finish_cross
$cross_step "windows: the CLI under Wine against a Linux server" bash scripts/cross.sh wine
$cross_step "windows: the client core's and the CLI's tests under Wine" bash scripts/cross.sh wine_tests
