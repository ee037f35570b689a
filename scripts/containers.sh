#!/usr/bin/env bash
# What the container scripts (scripts/stack.sh, scripts/container-test.sh) share: a
# container engine that answers, the local Debian base image every Ferry image is built
# FROM, and the images of the compose stack (deploy/compose.yaml).
#
#   source scripts/containers.sh
#   containers_engine            # docker + docker-compose installed, dockerd answering
#   containers_base_image        # local/debian:bookworm exists (debootstrap, once)
#   containers_build_images BIN  # ferry-server (prebuilt from BIN), postgres, nats, haproxy
#
# Why a local base image: no image registry is reachable from the machines this project
# is built on, so the Dockerfiles keep standard FROM lines and take the base through the
# BASE build argument (docs/operations.md). Elsewhere, BASE=debian:bookworm-slim works
# as well and nothing here is needed but `docker build`.
#
# Functions print progress to stderr and return non-zero instead of exiting, so sourcing
# this file is safe in an interactive shell.

# The base image, made once per machine by containers_base_image.
: "${FERRY_BASE_IMAGE:=local/debian:bookworm}"
# Image names the compose file uses (deploy/compose.yaml reads the same variables).
: "${FERRY_IMAGE:=ferry-server:local}"
: "${FERRY_POSTGRES_IMAGE:=ferry-postgres:local}"
: "${FERRY_NATS_IMAGE:=ferry-nats:local}"
: "${FERRY_HAPROXY_IMAGE:=ferry-haproxy:local}"
export FERRY_BASE_IMAGE FERRY_IMAGE FERRY_POSTGRES_IMAGE FERRY_NATS_IMAGE FERRY_HAPROXY_IMAGE
# Debian's engine has no BuildKit; say so, so that a newer docker client does not try it.
export DOCKER_BUILDKIT=0 COMPOSE_DOCKER_CLI_BUILD=0

_ferry_ct_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
_ferry_ct_cache="${FERRY_CONTAINER_CACHE:-$HOME/.cache/ferry/containers}"

_ferry_ct_say() { printf 'containers: %s\n' "$*" >&2; }
_ferry_ct_fail() { printf 'containers: error: %s\n' "$*" >&2; return 1; }

_ferry_ct_as_root() {
    if [[ $EUID -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        _ferry_ct_fail "need root for: $*"
    fi
}

# wait_until SECONDS WHAT COMMAND...: runs COMMAND every 0.2 s until it succeeds; fails
# with a message naming WHAT when SECONDS pass first.
wait_until() {
    local limit=$1 what=$2 deadline
    shift 2
    deadline=$((SECONDS + limit))
    until "$@" >/dev/null 2>&1; do
        if ((SECONDS >= deadline)); then
            _ferry_ct_fail "$what: not within ${limit} s"
            return 1
        fi
        sleep 0.2
    done
}

# True when docker-compose (v1, Debian's) or the `docker compose` plugin (v2) is there.
containers_compose_available() {
    command -v docker-compose >/dev/null 2>&1 || docker compose version >/dev/null 2>&1
}

# containers_compose ARGS...: docker-compose v1 if installed, else `docker compose`.
containers_compose() {
    if command -v docker-compose >/dev/null 2>&1; then
        docker-compose "$@"
    else
        docker compose "$@"
    fi
}

# Installs the engine, compose v1 and debootstrap with apt when any is missing, then
# starts dockerd in the background when no engine answers (there may be no systemd).
containers_engine() {
    local missing=() tool
    command -v docker >/dev/null 2>&1 || missing+=(docker.io)
    command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
    containers_compose_available || missing+=(docker-compose)
    command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
    if [[ ${#missing[@]} -gt 0 ]]; then
        mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
        command -v apt-get >/dev/null 2>&1 \
            || { _ferry_ct_fail "missing ${missing[*]} and apt-get is not available; install a container engine yourself"; return 1; }
        _ferry_ct_say "installing apt packages: ${missing[*]} (apt-get update first)"
        _ferry_ct_as_root apt-get update -q || return 1
        _ferry_ct_as_root env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -q "${missing[@]}" || return 1
    fi
    for tool in docker dockerd debootstrap; do
        command -v "$tool" >/dev/null 2>&1 || { _ferry_ct_fail "$tool is still missing"; return 1; }
    done
    containers_compose_available || { _ferry_ct_fail "docker-compose is still missing"; return 1; }

    if docker info >/dev/null 2>&1; then
        _ferry_ct_say "the container engine answers"
        return 0
    fi
    mkdir -p "$_ferry_ct_cache"
    _ferry_ct_say "no container engine answers; starting dockerd (log: $_ferry_ct_cache/dockerd.log)"
    # Left running on purpose: the engine is machine state, like the Postgres cluster
    # scripts/postgres.sh starts, and the next run reuses it and its image cache.
    _ferry_ct_as_root nohup dockerd --host unix:///var/run/docker.sock \
        >"$_ferry_ct_cache/dockerd.log" 2>&1 &
    wait_until 60 "dockerd answering (see $_ferry_ct_cache/dockerd.log)" docker info || return 1
    _ferry_ct_say "dockerd is up"
}

# Makes $FERRY_BASE_IMAGE from a minimal Debian bookworm (debootstrap) when it is missing.
# A base not named local/… (FERRY_BASE_IMAGE=debian:bookworm-slim, where a registry is
# reachable) is pulled instead.
containers_base_image() {
    if docker image inspect "$FERRY_BASE_IMAGE" >/dev/null 2>&1; then
        _ferry_ct_say "base image $FERRY_BASE_IMAGE is present"
        return 0
    fi
    if [[ $FERRY_BASE_IMAGE != local/* ]]; then
        _ferry_ct_say "pulling base image $FERRY_BASE_IMAGE"
        docker pull "$FERRY_BASE_IMAGE" >&2 || { _ferry_ct_fail "cannot pull $FERRY_BASE_IMAGE"; return 1; }
        return 0
    fi
    local root status=0
    mkdir -p "$_ferry_ct_cache"
    root=$(mktemp -d "$_ferry_ct_cache/debian-root.XXXXXX") || return 1
    _ferry_ct_say "making base image $FERRY_BASE_IMAGE: debootstrap --variant=minbase bookworm (about a minute)"
    if _ferry_ct_as_root debootstrap --variant=minbase bookworm "$root" http://deb.debian.org/debian \
        >"$_ferry_ct_cache/debootstrap.log" 2>&1; then
        # Security fixes reach images built later on this base.
        cat >"$root/etc/apt/sources.list" <<'EOF'
deb http://deb.debian.org/debian bookworm main
deb http://deb.debian.org/debian bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
EOF
        # Keep images small as debian:*-slim does: apt keeps no package cache, dpkg installs
        # no documentation, manuals or translations.
        cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
        cat >"$root/etc/dpkg/dpkg.cfg.d/docker-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
EOF
        _ferry_ct_as_root find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
        _ferry_ct_as_root rm -rf "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/* \
            "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
        _ferry_ct_as_root tar -C "$root" -c . | docker import \
            --change 'CMD ["bash"]' - "$FERRY_BASE_IMAGE" >/dev/null || status=1
    else
        _ferry_ct_fail "debootstrap failed; see $_ferry_ct_cache/debootstrap.log"
        status=1
    fi
    _ferry_ct_as_root rm -rf "$root"
    [[ $status -eq 0 ]] && _ferry_ct_say "base image $FERRY_BASE_IMAGE is ready"
    return "$status"
}

# _ferry_ct_build NAME ARGS...: `docker build` on the host's network with the base image;
# its output goes to a log, shown when the build fails (--force-rm: a failed step leaves
# no container behind).
_ferry_ct_build() {
    local name=$1 log
    shift
    mkdir -p "$_ferry_ct_cache"
    log=$_ferry_ct_cache/build-$name.log
    if ! docker build --force-rm --network host --build-arg BASE="$FERRY_BASE_IMAGE" "$@" >"$log" 2>&1; then
        tail -n 40 "$log" >&2
        _ferry_ct_fail "building the $name image failed (full output: $log)"
        return 1
    fi
}

# containers_build_images BINARY: the Ferry image from a ferry-server built on this
# machine (the Dockerfile's `prebuilt` target, so no Rust toolchain in an image), and the
# Postgres, NATS and HAProxy images of the stack, all FROM $FERRY_BASE_IMAGE. The layer
# cache makes a rebuild with nothing changed take a second or two.
containers_build_images() {
    local binary=$1 context
    [[ -x $binary ]] || { _ferry_ct_fail "no ferry-server binary at $binary"; return 1; }
    # A context of its own with the layout of a checkout: the files the Dockerfile copies,
    # and the binary where the prebuilt stage looks for it (target/release/, whichever
    # profile built it). Stripped: debug info is most of a debug build's size.
    context=$(mktemp -d "${TMPDIR:-/tmp}/ferry-image.XXXXXX") || return 1
    mkdir -p "$context/target/release" "$context/deploy"
    cp "$_ferry_ct_root/Dockerfile" "$_ferry_ct_root/.dockerignore" "$context/"
    cp "$_ferry_ct_root/deploy/http-ok.sh" "$context/deploy/"
    strip --strip-debug -o "$context/target/release/ferry-server" "$binary" || {
        rm -rf "$context"
        _ferry_ct_fail "strip $binary failed"
        return 1
    }
    _ferry_ct_say "building $FERRY_IMAGE (target prebuilt, from $binary)"
    local status=0
    _ferry_ct_build ferry-server --target prebuilt \
        --build-arg VERSION="$(git -C "$_ferry_ct_root" describe --always --dirty 2>/dev/null || echo dev)" \
        --build-arg REVISION="$(git -C "$_ferry_ct_root" rev-parse HEAD 2>/dev/null || echo unknown)" \
        -t "$FERRY_IMAGE" "$context" || status=1
    rm -rf "$context"
    [[ $status -eq 0 ]] || return 1

    local name image
    for name in postgres nats haproxy; do
        case $name in
            postgres) image=$FERRY_POSTGRES_IMAGE ;;
            nats) image=$FERRY_NATS_IMAGE ;;
            haproxy) image=$FERRY_HAPROXY_IMAGE ;;
        esac
        _ferry_ct_say "building $image (deploy/$name)"
        _ferry_ct_build "$name" -f "$_ferry_ct_root/deploy/$name/Dockerfile" -t "$image" \
            "$_ferry_ct_root/deploy" || return 1
    done
}
