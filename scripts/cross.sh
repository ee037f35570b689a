#!/usr/bin/env bash
# Builds Ferry for Windows and checks it for macOS on this Linux machine, with Debian's
# own toolchain, and runs the Windows CLI under Wine against a Linux server and the
# client core's and the CLI's test suites under Wine (issue 27).
#
# The machine's Rust has no other targets and cannot download any, and its Debian is too
# old for the cross tools; Debian's `sid` suite has rustc/cargo 1.97, rust-src (so std
# can be built for any target with -Zbuild-std), the MinGW-w64 compilers and Wine. They
# live in a `sid` root made with debootstrap under $FERRY_CROSS (default
# ~/.cache/ferry/cross), made once and reused; nothing is installed on the machine but
# debootstrap. Each command runs in that root in a private mount namespace (unshare), so
# the bind mounts of the source tree, the cargo registry and the target directory vanish
# with it, whatever happens.
#
#   scripts/cross.sh                 # every phase, in order
#   scripts/cross.sh root windows    # some phases: root std windows tests clippy desktop
#                                    # wine wine_tests macos
#   scripts/cross.sh shell           # a shell in the root, with the mounts
#
# The heavy work runs at idle CPU priority (FERRY_CROSS_NICE=0 turns that off), so that
# it never slows other builds on a shared machine. Prints each phase's time at the end.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$(pwd)

say() { printf 'cross: %s\n' "$*"; }
die() { printf 'cross: error: %s\n' "$*" >&2; exit 1; }

cross=${FERRY_CROSS:-$HOME/.cache/ferry/cross}
# debootstrap, unshare and chroot need root. Anyone else goes through sudo, with a cargo
# registry of the root's own: a shared one would get root-owned files in ~/.cargo.
if [[ $EUID -ne 0 ]]; then
    sudo -n true 2>/dev/null \
        || die "needs root (debootstrap, unshare, chroot): run it as root or with passwordless sudo"
    exec sudo -n env PATH="$PATH" FERRY_CROSS="$cross" CARGO_HOME="$cross/cargo-home" \
        FERRY_LINUX_BIN="${FERRY_LINUX_BIN:-${CARGO_TARGET_DIR:-$HOME/.cache/ferry/target}/debug}" \
        FERRY_CROSS_NICE="${FERRY_CROSS_NICE:-1}" bash "$0" "$@"
fi
root=$cross/sid
# Cargo's registry is shared with the machine's (same crates, one download).
cargo_home=${CARGO_HOME:-$HOME/.cargo}
windows=x86_64-pc-windows-gnu
macos=aarch64-apple-darwin
# The packages the root holds: Rust 1.97 with clippy and the standard library's sources, the
# MinGW-w64 C compilers (rusqlite's SQLCipher, ring, aws-lc), cmake and nasm (aws-lc's
# build), perl (OpenSSL's build, which SQLCipher uses on Windows), Wine to run what is
# built, and CA certificates for crates.io.
root_packages=(rustc cargo rust-clippy rust-src gcc-mingw-w64-x86-64 g++-mingw-w64-x86-64 cmake nasm make
    perl wine wine64 ca-certificates)

idle=()
if [[ ${FERRY_CROSS_NICE:-1} != 0 ]]; then
    idle=(nice -n 19)
    chrt --idle 0 true 2>/dev/null && idle=(chrt --idle 0 nice -n 19)
    # With the kernel's autogroups, a session (test.sh starts this one with setsid) is
    # one group, and groups share the CPU evenly whatever their tasks' nice: the group's
    # own nice has to be lowered too, or these builds take half the cores from the tests.
    echo 19 2>/dev/null >/proc/self/autogroup || true
fi

# Debian's archive as the machine's apt has it configured (its first `…/debian` source),
# unless FERRY_DEBIAN_MIRROR names one.
debian_mirror() {
    if [[ -n ${FERRY_DEBIAN_MIRROR:-} ]]; then
        echo "$FERRY_DEBIAN_MIRROR"
        return
    fi
    local url
    url=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null \
        | grep -oE '^(URIs:[[:space:]]*|deb[[:space:]]+(\[[^]]*\][[:space:]]+)?)https?://[^[:space:]]+' \
        | grep -oE 'https?://[^[:space:]]+' | grep -E '/debian/?$' | head -1 || true)
    [[ -n $url ]] || die "no Debian archive in /etc/apt/sources.list*; set FERRY_DEBIAN_MIRROR"
    echo "${url%/}"
}

# in_root COMMAND...: runs COMMAND (a bash script) in the root, at idle priority, with
# /proc, /dev, the source tree at /src, the cargo registry and the cross target directory
# mounted, in a mount namespace of its own.
in_root() {
    mkdir -p "$cross/target" "$cross/cargo" "$cross/wine" "$cargo_home/registry"
    touch "$cargo_home/.package-cache" "$cargo_home/.package-cache-mutate"
    "${idle[@]}" unshare --mount --propagation private bash -euo pipefail -c '
        root=$1 repo=$2 cross=$3 cargo_home=$4
        shift 4
        mount -t proc proc "$root/proc"
        mount --rbind /dev "$root/dev"
        mount -t tmpfs tmpfs "$root/tmp"
        mkdir -p "$root/src" "$root/cross" "$root/root/.cargo/registry"
        mount --bind "$repo" "$root/src"
        mount --bind "$cross" "$root/cross"
        mount --bind "$cargo_home/registry" "$root/root/.cargo/registry"
        # The registry'"'"'s locks too: a cargo on the machine (scripts/test.sh runs this
        # beside its own builds) and this one never unpack the same crate at once.
        for lock in .package-cache .package-cache-mutate; do
            touch "$root/root/.cargo/$lock"
            mount --bind "$cargo_home/$lock" "$root/root/.cargo/$lock"
        done
        cp /etc/resolv.conf "$root/etc/resolv.conf"
        # The certificates this machine trusts (a network may re-sign TLS), for cargo; a
        # new root has no /etc/ssl until ca-certificates is installed in it.
        mkdir -p "$root/etc/ssl"
        cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/host-ca-certificates.crt"
        exec chroot "$root" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/root \
            TERM="${TERM:-dumb}" LANG=C.UTF-8 CARGO_TARGET_DIR=/cross/target \
            CARGO_HTTP_CAINFO=/etc/ssl/host-ca-certificates.crt SSL_CERT_FILE=/etc/ssl/host-ca-certificates.crt \
            WINEPREFIX=/cross/wine WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml=" bash -euo pipefail -c "cd /src; $*"
    ' in_root "$root" "$repo" "$cross" "$cargo_home" "$@"
}

# in_wine COMMAND...: COMMAND in the root under Wine, then waits for the wineserver to end.
# Every call shares one folder for the wineserver's socket and lock (bind-mounted over
# /tmp/.wine-0, where Wine looks), so a call finds and uses a server that an earlier call
# left running rather than starting a second one on the same prefix: one server per
# prefix, as on Windows. With a /tmp of its own per call, each call had a server of its
# own, and the registry file lagged behind: after `wineserver -w` had returned, with the
# call's Wine processes still shown exiting, a credential deleted by the call stayed in
# user.reg for up to a minute (seen here in 5 of 8 tries). So the checks below ask Wine
# (`reg query`) rather than read that file.
in_wine() {
    local server=/usr/lib/x86_64-linux-gnu/wine/wineserver
    mkdir -p -m 0700 "$cross/wineserver"
    # Wine's display drivers look for a private runtime folder, and complain without one.
    in_root "export XDG_RUNTIME_DIR=/tmp/runtime; mkdir -m 0700 -p \$XDG_RUNTIME_DIR /tmp/.wine-0;" \
        "mount --bind /cross/wineserver /tmp/.wine-0;" \
        "$server -p0 2>/dev/null || true; status=0; $*" "|| status=\$?; $server -w; exit \$status"
}

phase_root() {
    command -v debootstrap >/dev/null 2>&1 \
        || die "debootstrap is missing: run scripts/setup.sh (or apt-get install debootstrap)"
    if [[ ! -x $root/usr/bin/apt-get ]]; then
        local mirror
        mirror=$(debian_mirror)
        say "making a sid root (debootstrap, minbase) in $root"
        rm -rf "$root" "$root.partial"
        mkdir -p "$cross"
        "${idle[@]}" debootstrap --variant=minbase sid "$root.partial" "$mirror" >"$cross/debootstrap.log" 2>&1 \
            || { tail -20 "$cross/debootstrap.log" >&2; die "debootstrap failed (log: $cross/debootstrap.log)"; }
        mv "$root.partial" "$root"
    fi
    # The archive this machine reaches may be a mirror that lags: its sid Release file
    # can be past its Valid-Until date, which apt otherwise refuses. No recommends: the
    # root holds what is named, nothing more.
    printf '%s\n' 'Acquire::Check-Valid-Until "false";' 'APT::Install-Recommends "false";' \
        >"$root/etc/apt/apt.conf.d/99ferry-cross"
    local missing=() package
    for package in "${root_packages[@]}"; do
        chroot "$root" dpkg-query -W -f='${Status}\n' "$package" 2>/dev/null | grep -q '^install ok installed$' \
            || missing+=("$package")
    done
    if [[ ${#missing[@]} -eq 0 ]]; then
        say "sid root ready in $root (packages already installed)"
    else
        say "installing in the root: ${missing[*]}"
        in_root "apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends ${missing[*]} && apt-get clean" \
            >"$cross/apt.log" 2>&1 || { tail -20 "$cross/apt.log" >&2; die "apt in the root failed (log: $cross/apt.log)"; }
    fi
    in_root 'rustc --version; cargo --version; x86_64-w64-mingw32-gcc --version | head -1; wine --version'
}

phase_shell() { in_root 'exec bash -i'; }

# cargo in the root: Debian's stable 1.97 with RUSTC_BOOTSTRAP=1 for -Zbuild-std (std is
# built from rust-src for the target, into the same target directory, once).
# Cargo shows warnings only for the workspace's crates, so any is Ferry's: on Windows and
# macOS as on Linux (clippy -D warnings) it fails the phase.
cargo_cross() {
    local log=$cross/cargo.log
    # Cargo's own flags go before a `--` that hands the rest to the tool (clippy).
    local cargo_args=()
    while [[ $# -gt 0 && $1 != -- ]]; do cargo_args+=("$1"); shift; done
    in_root "export RUSTC_BOOTSTRAP=1; cargo ${cargo_args[*]} -Zbuild-std=std,panic_abort --locked $*" 2>&1 | tee "$log"
    no_warnings "$log"
}
no_warnings() {
    ! grep -E '^warning: ' "$1" || die "warnings in Ferry's code for another OS (above; log: $1)"
}

# std for Windows, and the one crate every other needs (ferry-proto).
phase_std() { cargo_cross build --target $windows -p ferry-proto; }

# The CLI and the client core for Windows.
phase_windows() {
    cargo_cross build --target $windows -p ferry-cli -p ferry-client
}

# The client core's and the CLI's own test suites for Windows, run under Wine by
# `wine_tests`. Their servers run in the test process (ferry-server's library, on
# Windows too), and one test kills a ferry-server process, so ferry-server is in the
# build: one cargo run for the three, as separate runs would resolve features apart and
# build every shared dependency twice. The test executables are listed for `wine_tests`.
phase_tests() {
    local json=$cross/target/$windows/tests.json log=$cross/cargo.log
    mkdir -p "$(dirname "$json")"
    in_root "export RUSTC_BOOTSTRAP=1; cargo test --no-run -Zbuild-std=std,panic_abort --locked \
        --target $windows -p ferry-client -p ferry-cli -p ferry-server \
        --message-format json-render-diagnostics" >"$json" 2> >(tee "$log" >&2)
    no_warnings "$log"
}

# clippy -D warnings over Ferry's code as compiled for Windows (its Windows-only code is
# linted nowhere else here), with the root's clippy.
phase_clippy() {
    cargo_cross clippy --target $windows -p ferry-client -p ferry-cli -p ferry-desktop -- -D warnings
}

# The desktop app's .exe (the UI embedded from ui/dist, built here first when missing).
# It links; it cannot run under Wine, which has no WebView2 runtime.
phase_desktop() {
    if [[ ! -f ui/dist/index.html ]]; then
        say "building the UI (ui/dist) that the app embeds"
        "${idle[@]}" npm --prefix ui install --no-audit --no-fund >/dev/null
        "${idle[@]}" npm --prefix ui run build >/dev/null
    fi
    cargo_cross build --target $windows -p ferry-desktop
}

# macOS can only be checked: there is no Apple SDK here, and four crates' build scripts
# compile C or Objective-C against its headers. A stand-in for the SDK's compiler and
# archiver writes empty objects and records which crate asked: `cargo clippy` links
# nothing, so every crate's Rust (Ferry's own macOS code included) is type-checked for
# macOS as it would be with the SDK, and Ferry's is linted (-D warnings). The crates it stood in for are listed: they are what
# needs the SDK to build for real.
phase_macos() {
    # Beside the build scripts' outputs: the list goes with them when the target goes.
    local log=$cross/macos-check.log asked=$cross/target/$macos/sdk-stand-in.log
    mkdir -p "$cross/bin"
    cat >"$cross/bin/sdk-stand-in" <<'STANDIN'
#!/bin/sh
# The Apple SDK's cc/ar for `cargo clippy` (scripts/cross.sh): empty outputs, asker recorded.
echo "${CARGO_PKG_NAME:-?}" >>/cross/target/aarch64-apple-darwin/sdk-stand-in.log
out=
while [ $# -gt 0 ]; do
    case $1 in
        -o) out=$2; shift ;;
        *.a) [ -e "$1" ] || printf '!<arch>\n' >"$1" ;;
    esac
    shift
done
[ -z "$out" ] || : >"$out"
STANDIN
    chmod +x "$cross/bin/sdk-stand-in"
    local stand_in=/cross/bin/sdk-stand-in
    in_root "export RUSTC_BOOTSTRAP=1 CC_aarch64_apple_darwin=$stand_in \
        CXX_aarch64_apple_darwin=$stand_in AR_aarch64_apple_darwin=$stand_in; \
        cargo clippy -Zbuild-std=std,panic_abort --locked \
        --target $macos -p ferry-proto -p ferry-client -p ferry-cli -p ferry-desktop \
        -- -D warnings" >"$log" 2>&1 \
        || { tail -40 "$log" >&2; die "the macOS check failed (log: $log)"; }
    no_warnings "$log"
    say "macOS check and clippy passed: ferry-proto, ferry-client, ferry-cli and ferry-desktop"
    # A crate asks only when its build script runs, so the list is kept across checks.
    if [[ -f $asked ]]; then
        say "crates whose C needs the Apple SDK (the stand-in compiled for them):"
        sort -u "$asked" | sed 's/^/  /'
    else
        say "no crate's C was compiled for macOS (none needed it, or an earlier check did it before the list was kept)"
    fi
}

# The Wine prefix (a Windows user's C: drive and registry), made once.
wine_prefix() {
    if [[ ! -f $cross/wine/system.reg ]]; then
        say "making the Wine prefix $cross/wine (once)"
        in_wine 'wineboot --init'
    fi
}

# The Windows CLI under Wine against a Linux ferry-server on loopback, with a Linux CLI
# as the other person. The Linux binaries come from $FERRY_LINUX_BIN (default: the
# test script's debug build, ~/.cache/ferry/target/debug), built there when missing.
phase_wine() {
    local bin=${FERRY_LINUX_BIN:-${CARGO_TARGET_DIR:-$HOME/.cache/ferry/target}/debug}
    if [[ ! -x $bin/ferry-server || ! -x $bin/ferry ]]; then
        say "building the Linux ferry-server and ferry into $bin"
        CARGO_TARGET_DIR=$(dirname "$bin") cargo build -p ferry-server -p ferry-cli
    fi
    # `tests` builds it as well (the CLI's tests run it), so after `tests` this is done.
    [[ -f $cross/target/$windows/debug/ferry.exe ]] || phase_windows
    wine_prefix
    # The Linux CLI keeps its tokens in a Secret Service: a throwaway one.
    FERRY_LINUX_BIN=$bin dbus-run-session -- bash scripts/with-keyring.sh bash "$0" wine_scenario
}

# The client core's and the CLI's test suites (built by `tests`) under Wine, as on
# Windows: each test's server in its process (on Postgres and NATS of this machine, over
# loopback), tokens in Wine's Credential Manager. The cluster tests are left out: they
# start and stop nats-server processes, and there is no Windows nats-server here (they
# run on Linux in `cargo test`).
phase_wine_tests() {
    phase_tests
    wine_prefix
    # Each test executable of the two packages, with its package's folder: cargo runs a
    # test from there, and so does this.
    local runs
    runs=$(python3 - "$cross/target/$windows/tests.json" <<'LIST'
import json, os, sys
for line in open(sys.argv[1]):
    msg = json.loads(line)
    folder = os.path.dirname(msg.get("manifest_path", ""))
    if msg.get("reason") == "compiler-artifact" and msg.get("profile", {}).get("test") \
            and msg.get("executable") and folder in ("/src/client", "/src/cli"):
        print(folder, msg["executable"])
LIST
)
    [[ -n $runs ]] || die "no test executables of ferry-client or ferry-cli in the build's list"
    local folder exe failed=()
    say "left out under Wine: cluster:: (its tests start and stop nats-server processes; there is no Windows nats-server here, and they run on Linux)"
    while read -r folder exe; do
        say "under Wine, in $folder: ${exe##*/}"
        in_wine "cd $folder; FERRY_TEST_NATS_URL=nats://127.0.0.1:4222 wine $exe --skip cluster::" \
            || failed+=("${exe##*/}")
    done <<<"$runs"
    [[ ${#failed[@]} -eq 0 ]] || die "tests failed under Wine: ${failed[*]}"
    say "the client core's and the CLI's tests passed under Wine"
}

phase_wine_scenario() {
    local bin=$FERRY_LINUX_BIN work port url server_pid=""
    work=$(mktemp -d "$cross/wine-run.XXXXXX")
    # The root sees $cross as /cross.
    local inside=/cross/${work#"$cross"/}
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    url=http://127.0.0.1:$port
    # The server says it is ready only by answering /readyz: polled, with a deadline.
    start_server() {
        FERRY_BIND=127.0.0.1:$port FERRY_DATA_DIR=$work/server "$bin/ferry-server" >>"$work/server.log" 2>&1 &
        server_pid=$!
        local tries=0
        until curl -sf "$url/readyz" >/dev/null; do
            ((++tries < 300)) || die "ferry-server did not answer within 30 s (log: $work/server.log)"
            kill -0 "$server_pid" 2>/dev/null || die "ferry-server exited (log: $work/server.log)"
            sleep 0.1
        done
    }
    stop_server() { kill "$server_pid"; wait "$server_pid" || true; server_pid=""; }
    trap '[[ -z ${server_pid:-} ]] || kill "$server_pid" 2>/dev/null || true' EXIT
    # win ARGS: the Windows ferry.exe, in the default data folder (as a user has it).
    win() { in_wine "wine /cross/target/$windows/debug/ferry.exe $(printf '%q ' "$@")"; }
    lin() { "$bin/ferry" --data-dir "$work/bob" "$@"; }
    # has WHAT NEEDLE TEXT: TEXT holds NEEDLE, or the scenario fails saying WHAT.
    has() { [[ $3 == *"$2"* ]] || die "$1: expected '$2' in: $3"; say "ok: $1"; }
    local out password='correct horse battery'

    # Alice's Windows data folder and Credential Manager entries (one per server
    # address): what a user of this ferry.exe has. A run starts without a folder.
    local appdata=$cross/wine/drive_c/users/root/AppData/Roaming/ferry/data
    rm -rf "$appdata"
    # credential_manager_has yes|no: whether Wine's Credential Manager holds a token for
    # $url, asked of Wine itself (`reg query`, through the prefix's one wineserver: what
    # any Windows program would see now, whenever the registry file is written).
    credential_manager_has() {
        local listing held=no
        listing=$(in_wine "wine reg query 'HKCU\\Software\\Wine\\Credential Manager'" 2>/dev/null || true)
        [[ $listing != *"Generic: $url#"* ]] || held=yes
        [[ $held == "$1" ]]
    }

    start_server
    say "Linux ferry-server on $url; Windows ferry.exe under $(in_root 'wine --version')"
    out=$(printf '%s\n' "$password" | win register alice --server "$url" --password-stdin)
    has "register under Wine" "signed in as alice" "$out"
    [[ -f $appdata/current-account ]] || die "no data folder at %APPDATA%\\ferry\\data: $(find "$cross/wine/drive_c/users" -maxdepth 4 | head -20)"
    say "ok: the data folder is %APPDATA%\\ferry\\data"
    credential_manager_has yes || die "no token for $url in Wine's Credential Manager"
    say "ok: the token is in Wine's Credential Manager"
    out=$(win --json status)
    has "a second process finds the token" '"online":true' "$out"

    out=$(printf '%s\n' "$password" | lin register bob --server "$url" --password-stdin)
    has "register on Linux" "signed in as bob" "$out"
    win new bob >/dev/null
    out=$(win send bob 'hello from windows')
    has "send from Windows" "sent" "$out"
    lin sync >/dev/null
    out=$(lin open alice)
    has "Linux reads Windows's message" "hello from windows" "$out"
    lin send alice 'hello from linux ✓' >/dev/null
    win sync >/dev/null
    out=$(win open bob)
    has "Windows reads Linux's message" "hello from linux ✓" "$out"

    stop_server
    out=$(win send bob 'written offline')
    has "offline send queues" "queued" "$out"
    out=$(win chats)
    has "offline reads come from the store" "written offline (pending)" "$out"
    start_server
    out=$(win sync)
    has "the outbox goes out later" "sent 1" "$out"
    lin sync >/dev/null
    out=$(lin open alice)
    has "Linux gets the message written offline" "written offline" "$out"

    mkdir -p "$work/files" "$work/win-downloads" "$work/lin-downloads"
    head -c 3000000 /dev/urandom >"$work/files/from-windows.bin"
    head -c 2500000 /dev/urandom >"$work/files/from-linux.bin"
    # `sent (#N)`: the message's number, as `download` takes it.
    out=$(win send bob --file "Z:$inside/files/from-windows.bin" 'a file')
    has "a file sent from Windows" "sent (#" "$out"
    local seq=${out##*#}
    lin sync >/dev/null
    lin download alice "${seq%)}" --out "$work/lin-downloads" >/dev/null
    cmp "$work/files/from-windows.bin" "$work/lin-downloads/from-windows.bin" \
        || die "the file sent from Windows differs"
    say "ok: a file from Windows arrives byte-identical"
    out=$(lin send alice --file "$work/files/from-linux.bin")
    has "a file sent from Linux" "sent (#" "$out"
    seq=${out##*#}
    win sync >/dev/null
    win download bob "${seq%)}" --out "Z:$inside/win-downloads" >/dev/null
    cmp "$work/files/from-linux.bin" "$work/win-downloads/from-linux.bin" \
        || die "the file downloaded on Windows differs"
    say "ok: a file downloaded on Windows is byte-identical"

    win logout >/dev/null
    out=$(win chats 2>&1 || true)
    has "sign-out forgets the token" "not signed in" "$out"
    credential_manager_has no || die "the token for $url is still in Wine's Credential Manager after sign-out"
    say "ok: sign-out removes it from the Credential Manager"
    stop_server
    rm -rf "$work"
}

# ------------------------------------------------------------------------------------
timings=()
timed() {
    local name=$1 start=$SECONDS
    say "==> $name"
    "phase_$name"
    timings+=("$(printf '%5ss  %s' $((SECONDS - start)) "$name")")
}
report() {
    local status=$?
    if [[ ${#timings[@]} -gt 0 ]]; then
        say "==> times"
        printf '  %s\n' "${timings[@]}"
    fi
    exit "$status"
}
trap report EXIT

phases=("$@")
[[ ${#phases[@]} -gt 0 ]] || phases=(root std windows tests clippy desktop wine wine_tests macos)
for phase in "${phases[@]}"; do
    declare -F "phase_$phase" >/dev/null || die "unknown phase: $phase"
    timed "$phase"
done
