#!/usr/bin/env bash
# Fuzzes every decoder of untrusted input with cargo-fuzz (libFuzzer, nightly Rust):
# client frames as the server decodes them, server frames as the client does, the REST
# bodies with their checks, the client's search box, and the client's database after
# damage (fuzz/fuzz_targets/). Each corpus is kept in fuzz/corpus/<target>; a crash is
# saved in fuzz/artifacts/<target>/ and should become a regression test.
#
#   bash scripts/fuzz.sh [SECONDS] [TARGET...]    # default: 60 s each, every target
#
# Installs cargo-fuzz (crates.io) and the nightly toolchain when they are missing. Not
# part of scripts/test.sh: fuzzing finds things by running long, not in CI's minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'fuzz: %s\n' "$*" >&2; }

seconds=${1:-60}
shift || true
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
    targets=(client_frame server_frame rest_bodies search_query damaged_store)
fi

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    say "installing the nightly toolchain (cargo-fuzz needs its sanitizer flags)"
    rustup toolchain install nightly --profile minimal
fi
if ! command -v cargo-fuzz >/dev/null 2>&1; then
    say "installing cargo-fuzz from crates.io"
    cargo install cargo-fuzz --locked
fi

export CARGO_TARGET_DIR="${FERRY_FUZZ_TARGET_DIR:-$HOME/.cache/ferry/fuzz-target}"
failed=()
for target in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$target"
    say "$target: ${seconds} s"
    if ! cargo +nightly fuzz run --fuzz-dir fuzz "$target" "fuzz/corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1; then
        failed+=("$target")
    fi
done
if [[ ${#failed[@]} -gt 0 ]]; then
    say "FAILED: ${failed[*]} (see fuzz/artifacts/)"
    exit 1
fi
say "no failures in ${targets[*]}"
