#!/usr/bin/env bash
# The container test: proves the image and the compose stack (deploy/compose.yaml) work as
# docs/operations.md says. It builds the images (the Dockerfile's prebuilt target with
# this machine's debug ferry-server, and the stack's Postgres, NATS and HAProxy), starts
# the stack with scripts/stack.sh under a project name and ports of its own, and drives it
# with the `ferry` CLI through the load balancer:
#   - two users register, and chat both ways while one watches live;
#   - a message sent on node 1 reaches a watcher on node 2 live (the NATS bus);
#   - node 2 is stopped: SIGTERM through tini must end it with exit status 0, well within
#     the stop timeout; the chat goes on through the load balancer and nothing is lost
#     (every message arrives once, in order, on both sides);
#   - the stack stops, and every Ferry node must have exited 0 as quickly.
# Everything it started (containers, volumes, client processes, files) goes on exit,
# pass or fail. It ends with `container test: N passed, M failed` and exits non-zero on
# any failure.
#
#   scripts/container-test.sh [--no-build]
#
# It builds the binaries as scripts/test.sh does (`cargo build --workspace --bins --tests`,
# nothing new after that script's test step); --no-build uses those already in
# $CARGO_TARGET_DIR/debug, or FERRY_SERVER_BINARY and FERRY_CLI_BINARY. It installs
# docker.io, docker-compose, debootstrap and jq when missing, starts dockerd when no
# engine answers and makes the local base image once (scripts/containers.sh). The CLI
# keeps its tokens in the OS keyring, so the test runs in a private D-Bus session with a
# throwaway GNOME Keyring (scripts/with-keyring.sh), like the CLI's own tests.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ -z ${FERRY_CONTAINER_TEST_KEYRING:-} ]]; then
    for tool in dbus-run-session gnome-keyring-daemon; do
        command -v "$tool" >/dev/null 2>&1 \
            || { echo "container test: $tool is missing; run scripts/setup.sh" >&2; exit 1; }
    done
    export FERRY_CONTAINER_TEST_KEYRING=1
    exec dbus-run-session -- bash scripts/with-keyring.sh bash "$0" "$@"
fi

build=true
case ${1:-} in
    "") ;;
    --no-build) build=false ;;
    *)
        echo "usage: scripts/container-test.sh [--no-build]" >&2
        exit 2
        ;;
esac

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ferry/target}"
# shellcheck source=scripts/containers.sh
source scripts/containers.sh

# A stack of its own: its project name, its ports (not the defaults of scripts/stack.sh,
# so a stack someone runs is left alone), its secrets.
work=$(mktemp -d "${TMPDIR:-/tmp}/ferry-container-test.XXXXXX")
export FERRY_STACK_PROJECT=ferry-container-test
export FERRY_STACK_STATE=$work/state
export FERRY_LB_ADDR=127.0.0.1 FERRY_LB_PORT=18080
export FERRY_NODE1_PORT=18081 FERRY_NODE2_PORT=18082
export FERRY_PG_PORT=55433 FERRY_NATS_PORT=14223 FERRY_NATS_MONITOR_PORT=18223
unset FERRY_COMPOSE_OVERRIDE FERRY_PASSWORD FERRY_SERVER FERRY_CLIENT_DIR
lb_url=http://$FERRY_LB_ADDR:$FERRY_LB_PORT
# The nodes' stop_grace_period in deploy/compose.yaml is 30 s; a clean stop takes a few.
stop_limit=10
password='correct horse battery'

server_binary=${FERRY_SERVER_BINARY:-$CARGO_TARGET_DIR/debug/ferry-server}
cli_binary=${FERRY_CLI_BINARY:-$CARGO_TARGET_DIR/debug/ferry}

checks=(
    "images build"
    "the stack starts and turns healthy"
    "two users register through the load balancer"
    "chat both ways through the load balancer"
    "live delivery from node 1 to node 2"
    "node 2 stops on SIGTERM with exit status 0"
    "the chat goes on with one node, nothing lost"
    "the stack stops cleanly"
)
passed=0
failed=0
stack_started=false
watch_pids=()
# Message bodies in the order they were sent (every send returns before the next).
sent_bodies=()

say() { printf 'container test: %s\n' "$*" >&2; }
fail() {
    printf 'container test: FAILED: %s\n' "$*" >&2
    return 1
}

stack() { bash scripts/stack.sh "$@"; }

finish() {
    local status=$? pid not_run
    for pid in "${watch_pids[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if $stack_started; then
        if [[ $status -ne 0 ]]; then
            say "the stack at the failure:"
            stack compose ps >&2 || true
            stack compose logs --no-color --tail=40 >&2 || true
        fi
        say "removing the stack (docker-compose down -v)"
        stack down --volumes >/dev/null 2>&1 || say "warning: docker-compose down failed"
    fi
    rm -rf "$work"
    not_run=$((${#checks[@]} - passed - failed))
    if [[ $status -ne 0 && $failed -eq 0 ]]; then
        failed=1
        not_run=$((not_run - 1))
    fi
    echo
    if ((not_run > 0)); then
        echo "container test: $passed passed, $failed failed ($not_run not run)"
    else
        echo "container test: $passed passed, $failed failed"
    fi
    [[ $status -ne 0 ]] || ((failed == 0)) || status=1
    exit "$status"
}
trap finish EXIT
trap 'exit 130' INT TERM

# run_check INDEX FUNCTION: runs one check, prints its outcome and time, stops at a failure.
run_check() {
    local name=${checks[$1]} start=$SECONDS
    echo
    echo "--- $name"
    if "$2"; then
        passed=$((passed + 1))
        echo "ok   $name ($((SECONDS - start)) s)"
    else
        failed=$((failed + 1))
        echo "FAIL $name ($((SECONDS - start)) s)"
        exit 1
    fi
}

# ferry_cli DEVICE ARGS...: the CLI with the data directory of one device.
ferry_cli() {
    local device=$1
    shift
    "$cli_binary" --data-dir "$work/clients/$device" "$@"
}

# watch_start DEVICE: `ferry --json watch` in the background, its events in a file.
watch_start() {
    # The binary itself in the background (not a function), so that $! is its pid.
    "$cli_binary" --data-dir "$work/clients/$1" --json watch \
        >"$work/$1.events" 2>"$work/$1.watch-errors" &
    watch_pids+=($!)
}

# watch_saw DEVICE JQ_FILTER: true once the device's watch printed an event matching it.
watch_saw() {
    { jq -c "select($2)" "$work/$1.events" 2>/dev/null || true; } | grep -q .
}

# await_message DEVICE BODY: waits until the device's watch shows BODY from someone else.
await_message() {
    wait_until 30 "$1 sees \"$2\" live" watch_saw "$1" \
        ".type == \"message\" and .message.body == \"$2\" and .message.mine == false"
}

# send DEVICE CHAT BODY: sends and requires the server to have taken it (not queued).
send() {
    local out
    out=$(ferry_cli "$1" send "$2" "$3") || { fail "ferry send by $1: $out"; return 1; }
    [[ $out == "sent (#"* ]] || { fail "\"$3\" from $1 was not delivered at once: $out"; return 1; }
    sent_bodies+=("$3")
}

# history_is DEVICE CHAT: the chat's history on the device is exactly what was sent, in
# order, each once, numbered 1, 2, 3... by the server.
history_is() {
    local got want
    got=$(ferry_cli "$1" --json open "$2" --limit 500 | jq -r '"\(.seq) \(.body)"') \
        || { fail "ferry open $2 on $1 failed"; return 1; }
    want=$(for i in "${!sent_bodies[@]}"; do echo "$((i + 1)) ${sent_bodies[i]}"; done)
    if [[ $got != "$want" ]]; then
        fail "the history on $1 is not what was sent:
--- sent
$want
--- on $1
$got"
        return 1
    fi
}

# healthy SERVICE: true when the service's container reports healthy.
healthy() {
    [[ $(docker inspect -f '{{.State.Health.Status}}' "$(stack compose ps -q "$1")") == healthy ]]
}

# exit_of SERVICE: the exit status and state of the service's container.
exit_of() {
    docker inspect -f '{{.State.ExitCode}} {{.State.Status}}' "$(stack compose ps -q "$1")"
}

check_images() {
    containers_engine || return 1
    local tool missing=()
    for tool in jq curl; do
        command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
    done
    if [[ ${#missing[@]} -gt 0 ]]; then
        say "installing apt packages: ${missing[*]} (to read the CLI's and the nodes' JSON)"
        _ferry_ct_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" || return 1
    fi
    if $build; then
        say "cargo build --locked --workspace --bins --tests (as scripts/test.sh)"
        cargo build --locked --workspace --bins --tests || return 1
    fi
    [[ -x $server_binary && -x $cli_binary ]] \
        || { fail "need $server_binary and $cli_binary (build them, or drop --no-build)"; return 1; }
    local start=$SECONDS
    containers_base_image || return 1
    say "base image: $((SECONDS - start)) s"
    start=$SECONDS
    containers_build_images "$server_binary" || return 1
    say "images: $((SECONDS - start)) s"
}

check_stack_up() {
    # A run that was killed may have left its stack behind.
    if docker ps -aq --filter "label=com.docker.compose.project=$FERRY_STACK_PROJECT" | grep -q .; then
        say "removing the stack a previous run left"
        docker ps -aq --filter "label=com.docker.compose.project=$FERRY_STACK_PROJECT" \
            | xargs docker rm -f >/dev/null
    fi
    docker volume ls -q --filter "label=com.docker.compose.project=$FERRY_STACK_PROJECT" \
        | xargs -r docker volume rm >/dev/null
    stack_started=true
    stack up --no-build || return 1
    local service
    for service in postgres nats node1 node2 lb; do
        wait_until 60 "$service healthy" healthy "$service" || return 1
    done
    echo "postgres, nats, node1, node2 and lb are healthy"
    deploy/http-ok.sh "$FERRY_LB_ADDR:$FERRY_LB_PORT" /readyz || { fail "/readyz through the load balancer"; return 1; }
    # Both nodes are on the cluster bus (a node without FERRY_NATS_URL says "local").
    local port ready
    for port in "$FERRY_NODE1_PORT" "$FERRY_NODE2_PORT"; do
        ready=$(curl -sf "http://127.0.0.1:$port/readyz") || { fail "/readyz on 127.0.0.1:$port"; return 1; }
        [[ $(jq -r .bus <<<"$ready") == connected ]] \
            || { fail "the node on 127.0.0.1:$port is not on the NATS bus: $ready"; return 1; }
    done
    echo "both nodes are connected to the NATS bus"
}

check_register() {
    local who out
    for who in alice bob; do
        out=$(printf '%s\n' "$password" | ferry_cli "$who" register "$who" \
            --display-name "${who^}" --server "$lb_url" --password-stdin) \
            || { fail "register $who: $out"; return 1; }
        [[ $out == *"signed in as $who"* ]] || { fail "register $who said: $out"; return 1; }
        echo "$out"
    done
}

check_chat() {
    watch_start bob
    wait_until 30 "bob's watch online" watch_saw bob \
        '.type == "connection" and .state.state == "online"' || return 1
    ferry_cli alice new bob | grep -q Bob || { fail "alice could not start the chat with bob"; return 1; }
    local i
    for i in 1 2 3; do
        send alice bob "alice to bob $i" || return 1
        await_message bob "alice to bob $i" || return 1
    done
    send bob alice "bob to alice 1" || return 1
    send bob alice "bob to alice 2" || return 1
    history_is alice bob || return 1
    history_is bob alice || return 1
    echo "${#sent_bodies[@]} messages, both ways, both histories complete"
}

check_cross_node() {
    local out
    # Second devices that skip the load balancer: Alice's on node 1, Bob's on node 2.
    out=$(printf '%s\n' "$password" | ferry_cli alice-node1 login alice \
        --server "http://127.0.0.1:$FERRY_NODE1_PORT" --password-stdin) \
        || { fail "alice on node 1: $out"; return 1; }
    out=$(printf '%s\n' "$password" | ferry_cli bob-node2 login bob \
        --server "http://127.0.0.1:$FERRY_NODE2_PORT" --password-stdin) \
        || { fail "bob on node 2: $out"; return 1; }
    watch_start bob-node2
    wait_until 30 "bob's watch on node 2 online" watch_saw bob-node2 \
        '.type == "connection" and .state.state == "online"' || return 1
    send alice-node1 bob "from node 1 to node 2" || return 1
    await_message bob-node2 "from node 1 to node 2" || return 1
    await_message bob "from node 1 to node 2" || return 1
    # A file uploaded through node 1 and downloaded through node 2: both keep files in
    # the one folder they share (FERRY_FILES).
    local id
    head -c 5000000 /dev/urandom >"$work/cross.bin"
    out=$(ferry_cli alice-node1 send bob "a file across nodes" --file "$work/cross.bin") \
        || { fail "alice sends a file through node 1: $out"; return 1; }
    [[ $out == "sent (#"* ]] || { fail "the file was not sent at once: $out"; return 1; }
    sent_bodies+=("a file across nodes")
    await_message bob-node2 "a file across nodes" || return 1
    id=$(ferry_cli bob-node2 --json open alice --limit 1 | jq -r '.id') \
        || { fail "bob's newest message on node 2"; return 1; }
    out=$(ferry_cli bob-node2 download "$id" --out "$work/got") \
        || { fail "bob downloads the file through node 2: $out"; return 1; }
    cmp -s "$work/cross.bin" "$work/got/cross.bin" \
        || { fail "the file downloaded through node 2 differs"; return 1; }
    echo "a 5 MB file sent through node 1 came back byte-identical through node 2"
}

check_stop_node() {
    local start=$SECONDS took state
    stack compose stop node2 || return 1
    took=$((SECONDS - start))
    state=$(exit_of node2) || return 1
    echo "node2: exit status and state: $state, stopped in $took s"
    [[ $state == "0 exited" ]] || { fail "node2 did not exit cleanly: $state"; return 1; }
    ((took <= stop_limit)) || { fail "node2 took $took s to stop (limit $stop_limit s)"; return 1; }
}

check_one_node() {
    local i
    for i in 1 2 3; do
        send alice bob "alice to bob with one node $i" || return 1
        await_message bob "alice to bob with one node $i" || return 1
    done
    send bob alice "bob to alice with one node" || return 1
    history_is alice bob || return 1
    history_is bob alice || return 1
    echo "${#sent_bodies[@]} messages, each once and in order on both sides"
}

check_stack_stop() {
    local start took service state pid
    # The clients leave first: with a WebSocket open, HAProxy's soft stop waits for it
    # (up to hard-stop-after, deploy/haproxy/haproxy.cfg), which is not what is measured.
    for pid in "${watch_pids[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    watch_pids=()
    # One service at a time, front to back as `docker-compose stop` goes, so that each
    # one's time is its own.
    for service in lb node1 nats postgres; do
        start=$SECONDS
        stack compose stop "$service" >/dev/null 2>&1 || { fail "docker-compose stop $service"; return 1; }
        took=$((SECONDS - start))
        state=$(exit_of "$service") || return 1
        echo "$service: exit status and state: $state, stopped in $took s"
        [[ $state == "0 exited" ]] || { fail "$service did not exit cleanly: $state"; return 1; }
        ((took <= stop_limit)) || { fail "$service took $took s to stop (limit $stop_limit s)"; return 1; }
    done
    stack down --volumes || return 1
    stack_started=false
}

run_check 0 check_images
run_check 1 check_stack_up
run_check 2 check_register
run_check 3 check_chat
run_check 4 check_cross_node
run_check 5 check_stop_node
run_check 6 check_one_node
run_check 7 check_stack_stop
