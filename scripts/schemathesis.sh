#!/usr/bin/env bash
# Checks the OpenAPI document (/api/v1/openapi.json) against the server it describes, with
# schemathesis: `schemathesis run --checks all` generates requests from the document,
# valid and invalid, and fails on any answer the document does not describe (a status
# code, content type, header or body it does not list), a valid request refused, an
# invalid one accepted, a method a path lacks not answered 405, or a server error.
#
#   scripts/schemathesis.sh          the short run, which scripts/test.sh runs (about a minute)
#   scripts/schemathesis.sh --long   ten times the cases (about 8 minutes on two cores)
#
# It starts ferry-server ($FERRY_SERVER_BINARY, else $CARGO_TARGET_DIR/debug/ferry-server,
# which scripts/test.sh builds before this step) on the embedded SQLite database in a
# fresh temporary directory and a free loopback port, registers one user over the API,
# makes it an administrator (`ferry-server admin grant`), and has schemathesis sign in as
# that user. The server is stopped and the directory
# removed on exit, pass or fail. scripts/schemathesis.toml holds schemathesis's settings,
# scripts/schemathesis_hooks.py the few answers no document can describe. The seed is
# fixed, so each run generates the same cases; FERRY_SCHEMATHESIS_SEED picks another. The
# JUnit and NDJSON reports go to $CARGO_TARGET_DIR/schemathesis. Installs the pinned
# schemathesis from PyPI (for this user) when it is missing or another version: a new
# version brings new checks, so moving the pin is a change of its own. Exits non-zero on
# any failure or error.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ferry/target}"

# Cases per operation and phase (schemathesis's `--max-examples`).
examples=100
mode=short
case ${1:-} in
    "") ;;
    --long)
        examples=1000
        mode=long
        ;;
    *)
        echo "usage: scripts/schemathesis.sh [--long]" >&2
        exit 2
        ;;
esac
seed=${FERRY_SCHEMATHESIS_SEED:-20261124}

say() { printf 'schemathesis: %s\n' "$*" >&2; }

# shellcheck source=scripts/pip.sh
source scripts/pip.sh

schemathesis_version=4.32.5

ensure_schemathesis() {
    export PATH="$HOME/.local/bin:$PATH"
    if [[ $(schemathesis --version 2>/dev/null) == *"version $schemathesis_version" ]]; then
        return 0
    fi
    say "installing schemathesis $schemathesis_version from PyPI (generates requests from the OpenAPI document)"
    pip_install_user "schemathesis==$schemathesis_version" || return 1
    [[ $(schemathesis --version 2>/dev/null) == *"version $schemathesis_version" ]] || {
        say "error: schemathesis $schemathesis_version is still not the one on PATH"
        return 1
    }
}
ensure_schemathesis
say "$(schemathesis --version)"

server_binary=${FERRY_SERVER_BINARY:-$CARGO_TARGET_DIR/debug/ferry-server}
if [[ ! -x $server_binary ]]; then
    say "error: no server binary at $server_binary (build it: cargo build -p ferry-server)"
    exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/ferry-schemathesis.XXXXXX")
server_pid=""
cleanup() {
    if [[ -n $server_pid ]]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# The server takes only the settings below: a DATABASE_URL or FERRY_* of the caller's (a
# Postgres URL, a NATS bus) would test another setup than this one.
server_env=()
while read -r name; do
    [[ $name == FERRY_* || $name == DATABASE_URL ]] && server_env+=(-u "$name")
done < <(compgen -e)
# Port 0: the kernel picks a free port, and the server prints the address it got. The
# rate limits are raised so that generated requests reach the handlers instead of
# turning into 429s (user search keeps its fixed limit, which the document lists), and
# so is the storage quota, which thousands of declared uploads would use up: both are
# what the server holds, not the shape of a request. A request may take 6 s, so a
# generated long-poll (`/sync?wait=`) waits at most 1 s. The log exists before the
# server starts: the background job opens it on its own time, and the loop below reads
# it at once (on a busy machine it once read before the job had made it).
: >"$work/server.log"
env "${server_env[@]}" \
    FERRY_BIND=127.0.0.1:0 \
    FERRY_DATA_DIR="$work/data" \
    FERRY_AUTH_RATE_PER_IP=1000000 \
    FERRY_LOGIN_RATE=1000000 \
    FERRY_SEND_RATE=1000000 \
    FERRY_SEND_BURST=1000000 \
    FERRY_MEMBERSHIP_RATE=1000000 \
    FERRY_MAX_CONNECTIONS_PER_IP=0 \
    FERRY_FILE_QUOTA_BYTES=1125899906842624 \
    FERRY_REQUEST_TIMEOUT_SECS=6 \
    "$server_binary" >>"$work/server.log" 2>&1 &
server_pid=$!

# Polled until ready (its address is in its log, then /readyz answers), with a deadline;
# a shell has no event to wait on here, so each look is 0.1 s apart.
deadline=$((SECONDS + 30))
base=""
until [[ -n $base ]] && curl -fsS -o /dev/null "$base/readyz" 2>/dev/null; do
    if ! kill -0 "$server_pid" 2>/dev/null; then
        say "error: ferry-server exited; its log:"
        cat "$work/server.log" >&2
        exit 1
    fi
    if ((SECONDS > deadline)); then
        say "error: ferry-server was not ready within 30 s; its log:"
        cat "$work/server.log" >&2
        exit 1
    fi
    [[ -n $base ]] || base=$(sed -n 's|^Ferry server listening on \(http://[^ ]*\).*|\1|p' "$work/server.log")
    sleep 0.1
done
say "ferry-server ready at $base (data in $work/data)"

# The user schemathesis signs in as (scripts/schemathesis.toml reads these two).
export FERRY_SCHEMATHESIS_USERNAME=schemathesis
FERRY_SCHEMATHESIS_PASSWORD="generated $(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
export FERRY_SCHEMATHESIS_PASSWORD
status=$(curl -sS -o "$work/register.json" -w '%{http_code}' \
    -H 'Content-Type: application/json' \
    -d "{\"username\":\"$FERRY_SCHEMATHESIS_USERNAME\",\"password\":\"$FERRY_SCHEMATHESIS_PASSWORD\",\"display_name\":\"Schemathesis\"}" \
    "$base/api/v1/auth/register")
if [[ $status != 201 ]]; then
    say "error: registering the test user got $status: $(cat "$work/register.json")"
    exit 1
fi
# An administrator, as the host's command makes one, so that the admin API is exercised
# too rather than answering 404 to everything.
env "${server_env[@]}" FERRY_DATA_DIR="$work/data" \
    "$server_binary" admin grant "$FERRY_SCHEMATHESIS_USERNAME" >>"$work/server.log" 2>&1 || {
    say "error: could not make the test user an administrator; the log:"
    cat "$work/server.log" >&2
    exit 1
}

reports=$CARGO_TARGET_DIR/schemathesis
mkdir -p "$reports"
say "$mode run: $examples cases per operation and phase, seed $seed; reports in $reports"
# One worker: with two, Hypothesis (in schemathesis) parses its lambdas' source in two
# threads at once, which this machine's Python 3.11 does not survive ("AST constructor
# recursion depth mismatch", a CPython bug fixed in later releases): one CI run in four
# ended with that error, never a finding of ours.
started=$SECONDS
result=0
schemathesis --config-file scripts/schemathesis.toml run "$base/api/v1/openapi.json" \
    --checks all \
    --max-examples "$examples" \
    --seed "$seed" \
    --workers 1 \
    --request-timeout 20 \
    --report junit,ndjson \
    --report-junit-path "$reports/$mode.junit.xml" \
    --report-ndjson-path "$reports/$mode.ndjson" ||
    result=$?
say "$mode run took $((SECONDS - started)) s"
if ! kill -0 "$server_pid" 2>/dev/null; then
    say "error: ferry-server died during the run; its log:"
    cat "$work/server.log" >&2
    exit 1
fi
exit "$result"
