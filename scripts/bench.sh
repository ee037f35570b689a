#!/usr/bin/env bash
# Runs the benchmark suite: Ferry and the Socket.IO peer, side by side in one run, on a
# Postgres with fsync on (see docs/benchmarks.md).
#   scripts/bench.sh --quick                  # the quick suite (under 5 minutes)
#   scripts/bench.sh                          # the full suite (under 30 minutes)
#   scripts/bench.sh --scenarios B3 --targets ferry,socketio
# It builds ferry-server and ferry-bench in release mode, installs the peer's npm
# packages, raises the open-file limit to the hard limit, then runs ferry-bench with the
# arguments given. Results: bench-results.json (override with --out).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ferry/target}"
export npm_config_cache="${npm_config_cache:-$HOME/.cache/ferry/npm}"

# shellcheck source=scripts/postgres.sh
source scripts/postgres.sh
ensure_postgres
export FERRY_BENCH_ADMIN_URL="${FERRY_BENCH_ADMIN_URL:-$FERRY_TEST_DATABASE_URL}"

echo "==> building ferry-server and ferry-bench (release)"
cargo build --release --locked -p ferry-server -p ferry-bench

echo "==> installing the Socket.IO peer's packages (bench/peers/socketio)"
(cd bench/peers/socketio && npm install --no-audit --no-fund --loglevel=error)

# Every connection is a file on both sides; the servers inherit this limit.
ulimit -n "$(ulimit -Hn)"
echo "==> ferry-bench $* (open files: $(ulimit -n))"
exec "$CARGO_TARGET_DIR/release/ferry-bench" "$@"
