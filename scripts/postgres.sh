#!/usr/bin/env bash
# Makes Postgres reachable on 127.0.0.1:5432 for the tests and exports
# FERRY_TEST_DATABASE_URL (the tests create and drop their own databases through it).
#
#   source scripts/postgres.sh && ensure_postgres    # exports into the current shell
#   eval "$(scripts/postgres.sh)"                     # the same, from a subshell
#
# A FERRY_TEST_DATABASE_URL that is already set is used as it is and nothing is started.
# Otherwise: use a server already listening on 5432, else start the installed cluster
# (pg_ctlcluster, which works without systemd), else install Postgres with apt and start
# it. Progress goes to stderr; functions return non-zero instead of exiting, so sourcing
# this file is safe in an interactive shell.

_ferry_pg_host=127.0.0.1
_ferry_pg_port=5432
_ferry_pg_url="postgres://postgres:postgres@${_ferry_pg_host}:${_ferry_pg_port}/postgres"

_ferry_pg_say() { printf 'postgres: %s\n' "$*" >&2; }
_ferry_pg_fail() { printf 'postgres: error: %s\n' "$*" >&2; return 1; }

_ferry_pg_as_root() {
    if [[ $EUID -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        _ferry_pg_fail "need root for: $*"
    fi
}

_ferry_pg_ready() {
    command -v pg_isready >/dev/null 2>&1 && pg_isready -q -h "$_ferry_pg_host" -p "$_ferry_pg_port"
}

# True when a cluster of the Debian packaging exists on this machine.
_ferry_pg_installed() {
    command -v pg_lsclusters >/dev/null 2>&1 && compgen -G '/etc/postgresql/*/main' >/dev/null
}

# Starts the installed cluster that is configured for our port.
_ferry_pg_start() {
    local version
    version=$(pg_lsclusters -h | awk -v port="$_ferry_pg_port" '$2 == "main" && $3 == port { print $1; exit }')
    if [[ -z $version ]]; then
        _ferry_pg_fail "no 'main' cluster is configured for port $_ferry_pg_port; clusters here:
$(pg_lsclusters)
Start one on $_ferry_pg_port, or set FERRY_TEST_DATABASE_URL to a server the tests may use."
        return 1
    fi
    _ferry_pg_say "starting cluster $version/main (pg_ctlcluster)"
    # A failure here (e.g. "already running") is not final: the wait below decides.
    _ferry_pg_as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start \
        || _ferry_pg_say "pg_ctlcluster did not report success; waiting for the server anyway"
}

_ferry_pg_install() {
    command -v apt-get >/dev/null 2>&1 \
        || { _ferry_pg_fail "Postgres is not installed and apt-get is not available; install Postgres yourself"; return 1; }
    _ferry_pg_say "Postgres is not installed; refreshing the apt package lists (apt-get update)"
    _ferry_pg_as_root apt-get update || return 1
    _ferry_pg_say "installing apt packages: postgresql postgresql-client"
    _ferry_pg_as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y --no-install-recommends postgresql postgresql-client || return 1
}

_ferry_pg_wait() {
    local i
    for ((i = 0; i < 30; i++)); do
        _ferry_pg_ready && return 0
        sleep 1
    done
    _ferry_pg_fail "Postgres did not accept connections on $_ferry_pg_host:$_ferry_pg_port within 30 s (see /var/log/postgresql/)"
}

_ferry_pg_can_login() {
    PGCONNECT_TIMEOUT=5 psql -X -w -q -At -c 'select 1' "$_ferry_pg_url" >/dev/null 2>&1
}

# Runs SQL as the postgres OS user over the local socket (peer auth on Debian).
_ferry_pg_local_sql() {
    (cd / && _ferry_pg_as_root su postgres -c "psql -X -q -At -c \"$1\"")
}

# A fresh Debian install checks passwords on TCP (scram) and the postgres role has none.
# Give it the URL's password then, and only then: a password someone set is never changed.
_ferry_pg_fill_password() {
    local no_password
    no_password=$(_ferry_pg_local_sql "select rolpassword is null from pg_authid where rolname = 'postgres'") \
        || return 1
    [[ $no_password == t ]] || return 1
    _ferry_pg_say "the postgres role has no password; setting it to 'postgres' (for the test URL)"
    _ferry_pg_local_sql "ALTER USER postgres PASSWORD 'postgres'" >/dev/null
}

ensure_postgres() {
    if [[ -n ${FERRY_TEST_DATABASE_URL:-} ]]; then
        _ferry_pg_say "using FERRY_TEST_DATABASE_URL from the environment"
        export FERRY_TEST_DATABASE_URL
        return 0
    fi

    if _ferry_pg_ready; then
        _ferry_pg_say "already accepting connections on $_ferry_pg_host:$_ferry_pg_port"
    else
        if ! _ferry_pg_installed; then
            _ferry_pg_install || { _ferry_pg_fail "installing Postgres failed"; return 1; }
        fi
        # The package may have started the new cluster itself; start it only if not.
        if ! _ferry_pg_ready; then
            _ferry_pg_start || return 1
        fi
        _ferry_pg_wait || return 1
        _ferry_pg_say "accepting connections on $_ferry_pg_host:$_ferry_pg_port"
    fi

    command -v psql >/dev/null 2>&1 \
        || { _ferry_pg_fail "psql not found; install postgresql-client (scripts/setup.sh does)"; return 1; }
    if ! _ferry_pg_can_login; then
        if _ferry_pg_installed; then
            _ferry_pg_fill_password || true
        fi
        _ferry_pg_can_login || {
            _ferry_pg_fail "cannot log in as $_ferry_pg_url; set FERRY_TEST_DATABASE_URL to a URL that works"
            return 1
        }
    fi

    export FERRY_TEST_DATABASE_URL="$_ferry_pg_url"
    _ferry_pg_say "FERRY_TEST_DATABASE_URL=$FERRY_TEST_DATABASE_URL"
}

# Run directly: ensure Postgres, then print an export line for `eval`.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    set -euo pipefail
    ensure_postgres
    printf 'export FERRY_TEST_DATABASE_URL=%q\n' "$FERRY_TEST_DATABASE_URL"
fi
