#!/usr/bin/env bash
# The container stack in one command: Postgres, NATS with JetStream, two Ferry nodes and
# HAProxy in front (deploy/compose.yaml), all on this host with host networking.
#
#   scripts/stack.sh up [--release]   build ferry-server (dev profile unless --release)
#                                     and the images, start the stack, wait until the
#                                     load balancer answers, print where to connect
#   scripts/stack.sh up --no-build    the same with the images already built
#   scripts/stack.sh down [--volumes] stop and remove the containers (and the data)
#   scripts/stack.sh ps | logs [SERVICE...]
#   scripts/stack.sh compose ARGS...  any docker-compose command on the stack
#                                     (`compose stop node2`, `compose restart lb`)
#
# It installs a container engine when none is there, starts dockerd when none answers,
# and makes the local Debian base image once (scripts/containers.sh). The generated
# Postgres password and JWT secret live in $FERRY_STACK_STATE (default
# ~/.local/state/ferry-stack), kept across `down` so that the volumes still open.
# Ports and images are variables with defaults, listed at the top of deploy/compose.yaml;
# FERRY_COMPOSE_OVERRIDE names an extra compose file layered on top. docs/operations.md
# has the rest.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ferry/target}"
# shellcheck source=scripts/containers.sh
source scripts/containers.sh

project=${FERRY_STACK_PROJECT:-ferry}
state=${FERRY_STACK_STATE:-$HOME/.local/state/ferry-stack}
lb_addr=${FERRY_LB_ADDR:-127.0.0.1}
lb_port=${FERRY_LB_PORT:-8080}

say() { printf 'stack: %s\n' "$*" >&2; }
die() {
    printf 'stack: error: %s\n' "$*" >&2
    exit 1
}

compose() {
    local files=(-f deploy/compose.yaml)
    [[ -z ${FERRY_COMPOSE_OVERRIDE:-} ]] || files+=(-f "$FERRY_COMPOSE_OVERRIDE")
    containers_compose -p "$project" --env-file "$state/stack.env" "${files[@]}" "$@"
}

random_hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }

# The Postgres password and the JWT secret file, made once.
ensure_state() {
    mkdir -p "$state"
    # The directory keeps the secrets private on the host; the secret file itself must be
    # readable inside the containers, where the server runs as uid 10001.
    chmod 0700 "$state"
    if [[ ! -s $state/jwt-secret ]]; then
        random_hex 32 >"$state/jwt-secret"
        chmod 0444 "$state/jwt-secret"
    fi
    if [[ ! -s $state/stack.env ]]; then
        {
            echo "# Made by scripts/stack.sh; the password of the Postgres volume's ferry role."
            echo "FERRY_PG_PASSWORD=$(random_hex 16)"
            echo "FERRY_JWT_SECRET_PATH=$state/jwt-secret"
        } >"$state/stack.env"
        chmod 0600 "$state/stack.env"
    fi
}

# Fails when a port the stack needs is taken by something else (it is not running yet).
check_ports() {
    local entry name port
    for entry in FERRY_LB_PORT=8080 FERRY_NODE1_PORT=8081 FERRY_NODE2_PORT=8082 \
        FERRY_PG_PORT=55432 FERRY_NATS_PORT=14222 FERRY_NATS_MONITOR_PORT=18222; do
        name=${entry%%=*}
        port=${!name:-${entry#*=}}
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            die "port $port ($name) is taken on 127.0.0.1; set $name to a free one"
        fi
    done
}

up() {
    local profile=debug cargo_flags=() build=true
    case ${1:-} in
        "") ;;
        --release) profile=release cargo_flags=(--release) ;;
        --no-build) build=false ;;
        *) die "unknown option $1 (up takes --release or --no-build)" ;;
    esac
    containers_engine || die "no container engine"
    if $build; then
        containers_base_image || die "no base image"
        # FERRY_SERVER_BINARY: a ferry-server built already (the container test's).
        local binary=${FERRY_SERVER_BINARY:-}
        if [[ -z $binary ]]; then
            say "cargo build ${cargo_flags[*]} -p ferry-server"
            cargo build --locked "${cargo_flags[@]}" -p ferry-server --bin ferry-server
            binary=$CARGO_TARGET_DIR/$profile/ferry-server
        fi
        containers_build_images "$binary" || die "building the images failed"
    fi
    ensure_state
    if [[ -z $(compose ps -q 2>/dev/null) ]]; then
        check_ports
    fi
    say "starting the stack (project $project)"
    compose up -d --no-build
    wait_until 120 "the load balancer answering on $lb_addr:$lb_port" \
        deploy/http-ok.sh "$lb_addr:$lb_port" /lb-health \
        || { compose ps >&2; die "the stack did not come up; see: scripts/stack.sh logs"; }
    compose ps
    echo
    echo "Ferry is up behind the load balancer: http://$lb_addr:$lb_port"
    echo "Point the desktop app (its server field) or \`ferry register --server\` there."
    echo "Stop it with: scripts/stack.sh down   (add --volumes to delete its data)"
}

down() {
    local flags=(--remove-orphans)
    if [[ ${1:-} == --volumes ]]; then
        flags+=(--volumes)
    elif [[ -n ${1:-} ]]; then
        die "unknown option $1 (down takes --volumes)"
    fi
    [[ -s $state/stack.env ]] || die "no stack state in $state; nothing to stop"
    docker info >/dev/null 2>&1 || die "no container engine answers"
    compose down "${flags[@]}"
}

command=${1:-}
shift || true
case $command in
    up) up "$@" ;;
    down) down "$@" ;;
    ps | logs)
        [[ -s $state/stack.env ]] || die "no stack state in $state; run scripts/stack.sh up"
        compose "$command" "$@"
        ;;
    compose)
        [[ -s $state/stack.env ]] || die "no stack state in $state; run scripts/stack.sh up"
        compose "$@"
        ;;
    *)
        sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
        exit 2
        ;;
esac
