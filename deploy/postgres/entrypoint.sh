#!/usr/bin/env bash
# Starts Postgres on $PGDATA (a volume), first making the cluster when it is empty: the
# superuser `postgres` only over the local socket, and $POSTGRES_USER owning
# $POSTGRES_DB with the password from $POSTGRES_PASSWORD_FILE or $POSTGRES_PASSWORD,
# allowed over TCP (scram-sha-256). Listens on $POSTGRES_LISTEN:$POSTGRES_PORT.
set -euo pipefail

if [[ -n ${POSTGRES_PASSWORD_FILE:-} ]]; then
    POSTGRES_PASSWORD=$(<"$POSTGRES_PASSWORD_FILE")
fi
: "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE}"

if [[ ! -s $PGDATA/PG_VERSION ]]; then
    echo "postgres-entrypoint: initialising $PGDATA"
    initdb -D "$PGDATA" --username=postgres --auth-local=peer --auth-host=scram-sha-256 \
        --encoding=UTF8 --locale=C.UTF-8 >/dev/null
    # Started on the socket only, so nothing connects before the role exists.
    pg_ctl -D "$PGDATA" -w -o "-c listen_addresses='' -c port=$POSTGRES_PORT" start >/dev/null
    psql -X -q -v ON_ERROR_STOP=1 -p "$POSTGRES_PORT" -U postgres -d postgres \
        -v user="$POSTGRES_USER" -v password="$POSTGRES_PASSWORD" -v db="$POSTGRES_DB" <<'SQL'
CREATE ROLE :"user" LOGIN PASSWORD :'password';
CREATE DATABASE :"db" OWNER :"user";
SQL
    pg_ctl -D "$PGDATA" -w -m fast stop >/dev/null
    echo "postgres-entrypoint: made role $POSTGRES_USER and database $POSTGRES_DB"
fi

exec postgres -D "$PGDATA" -c listen_addresses="$POSTGRES_LISTEN" -c port="$POSTGRES_PORT" "$@"
