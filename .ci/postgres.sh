#!/usr/bin/env bash
# Starts a throw-away PostgreSQL server on loopback for the tests and prints its URL.
# Usage: eval "$(bash .ci/postgres.sh)"   (sets VIDTRACE_TEST_PG_URL)
set -euo pipefail
PORT=${VIDTRACE_TEST_PG_PORT:-55432}
DIR=${VIDTRACE_TEST_PG_DIR:-/tmp/vidtrace-pg}
if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
BIN=$(dirname "$(ls /usr/lib/postgresql/*/bin/pg_ctl | sort -V | tail -n 1)")
RUN_AS=()
if [ "$(id -u)" = 0 ]; then RUN_AS=(runuser -u postgres --); fi
if ! "${RUN_AS[@]}" "$BIN/pg_ctl" -D "$DIR" status >/dev/null 2>&1; then
    rm -rf "$DIR"
    mkdir -p "$DIR"
    [ "$(id -u)" = 0 ] && chown postgres "$DIR"
    "${RUN_AS[@]}" "$BIN/initdb" -D "$DIR" -U postgres --auth=trust >/dev/null
    "${RUN_AS[@]}" "$BIN/pg_ctl" -D "$DIR" -l "$DIR/server.log" -w \
        -o "-p $PORT -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
fi
echo "export VIDTRACE_TEST_PG_URL=postgresql+psycopg://postgres@127.0.0.1:$PORT/postgres"
