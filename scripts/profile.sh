#!/usr/bin/env bash
# Profiles one benchmark run to show where the time goes: `perf` samples every CPU of
# the machine (the server, Postgres and the load generator share the two cores) on the
# CPU clock, since this VM has no hardware counters, then sums the samples by process
# and by function. Release binaries keep their symbols, so functions have names; there
# are no call stacks (no frame pointers).
#   scripts/profile.sh OUT_DIR --scenarios B5 --targets ferry
# Writes OUT_DIR/perf.data, OUT_DIR/result.json (the bench's figures),
# OUT_DIR/by-process.txt and OUT_DIR/by-function.txt (perf's reports, by thread name),
# and OUT_DIR/summary.txt (scripts/profile-summary.py: by process, which tells the
# server's tokio workers from the generator's). The samples cover the whole run,
# setup included (seeding, connecting), so pick scenarios whose load phase dominates.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ $# -lt 1 ]]; then
    echo "usage: scripts/profile.sh OUT_DIR [ferry-bench arguments]" >&2
    exit 2
fi
out=$1
shift
if ! command -v perf >/dev/null 2>&1; then
    echo "perf is missing: install Debian's linux-perf (sudo apt-get install linux-perf)" >&2
    exit 1
fi
mkdir -p "$out"

# Build first, outside the profile (scripts/bench.sh builds too, but then finds it done).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ferry/target}"
cargo build --release --locked -p ferry-server -p ferry-bench

echo "==> perf record (every CPU, 499 samples/s) around scripts/bench.sh $*"
perf record -e cpu-clock -F 499 -a -o "$out/perf.data" -- \
    bash scripts/bench.sh "$@" --out "$out/result.json"
perf report -i "$out/perf.data" --stdio --sort comm,dso --percent-limit 0.5 \
    >"$out/by-process.txt" 2>/dev/null
perf report -i "$out/perf.data" --stdio --sort comm,sym --percent-limit 0.3 \
    >"$out/by-function.txt" 2>/dev/null
perf script -i "$out/perf.data" -F comm,pid,tid,time,ip,sym,dso >"$out/script.txt" 2>/dev/null
python3 scripts/profile-summary.py "$out/script.txt" >"$out/summary.txt"
echo "profile: $out/summary.txt, $out/by-process.txt and $out/by-function.txt"
