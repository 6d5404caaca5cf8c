# shellcheck shell=bash
# Start a throw-away PostgreSQL server for the journal's tests and benchmarks.
#
#   source .ci/postgres.sh      # installs PostgreSQL if needed, starts it, exports the URL
#   ... run tests (they read COPYTRADER_TEST_PG_URL) ...
#   pg_stop                     # stops it and deletes the cluster (also runs on EXIT if the
#                               # caller had no EXIT trap of its own)
#
# The cluster lives in a temporary directory, listens on 127.0.0.1 only, on a free port, and is
# owned by an unprivileged user (PostgreSQL refuses to run as root): ``postgres`` if it exists,
# else ``nobody``. Exports COPYTRADER_TEST_PG_URL=postgresql+psycopg://copytrader@127.0.0.1:PORT/
# copytrader_test and PG_BIN, PG_DIR, PG_PORT. Works when sourced under ``set -euo pipefail``.

_pg_log() { echo "postgres.sh: $*" >&2; }

_pg_find_bin() {
    # Prints the directory holding initdb + pg_ctl, or nothing.
    local cand dir
    if cand=$(command -v pg_ctl 2>/dev/null) && [ -n "$cand" ]; then
        dir=$(dirname "$(readlink -f "$cand")")
        if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
            echo "$dir"
            return 0
        fi
    fi
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
            echo "$dir"
            return 0
        fi
    done
    return 0
}

_pg_free_port() {
    python3 - <<'PY'
import socket
with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1])
PY
}

_pg_as_owner() {
    # Runs "$@" as the cluster owner (or as ourselves when we are not root).
    if [ "$(id -u)" = 0 ]; then
        runuser -u "$PG_OWNER" -- "$@"
    else
        "$@"
    fi
}

pg_stop() {
    # Idempotent: stop the server started by pg_start and delete its directory.
    if [ -n "${PG_DIR:-}" ] && [ -d "$PG_DIR" ]; then
        if [ -n "${PG_BIN:-}" ] && [ -f "$PG_DIR/data/postmaster.pid" ]; then
            _pg_as_owner "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
        fi
        rm -rf "$PG_DIR"
        _pg_log "stopped and removed $PG_DIR"
    fi
    PG_DIR=""
    unset COPYTRADER_TEST_PG_URL
    return 0
}

pg_start() {
    PG_BIN=$(_pg_find_bin)
    if [ -z "$PG_BIN" ]; then
        if [ "$(id -u)" != 0 ]; then
            _pg_log "PostgreSQL is not installed and we are not root: cannot install it"
            return 1
        fi
        _pg_log "installing PostgreSQL (apt-get)"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || return 1
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >&2 \
            || return 1
        PG_BIN=$(_pg_find_bin)
        if [ -z "$PG_BIN" ]; then
            _pg_log "postgresql installed but initdb/pg_ctl not found"
            return 1
        fi
    fi
    if [ "$(id -u)" = 0 ]; then
        if id postgres >/dev/null 2>&1; then PG_OWNER=postgres; else PG_OWNER=nobody; fi
    else
        PG_OWNER=$(id -un)
    fi
    PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/copytrader-pg.XXXXXX") || return 1
    chmod 755 "$PG_DIR"
    if [ "$(id -u)" = 0 ]; then chown "$PG_OWNER" "$PG_DIR"; fi
    PG_PORT=$(_pg_free_port) || return 1
    _pg_log "initdb ($PG_BIN) as $PG_OWNER in $PG_DIR"
    _pg_as_owner "$PG_BIN/initdb" -D "$PG_DIR/data" -U copytrader --auth=trust -E UTF8 \
        --no-locale >"$PG_DIR/initdb.log" 2>&1 || { cat "$PG_DIR/initdb.log" >&2; pg_stop; return 1; }
    _pg_as_owner "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -c unix_socket_directories=$PG_DIR" \
        start >/dev/null || { cat "$PG_DIR/server.log" >&2; pg_stop; return 1; }
    _pg_as_owner "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U copytrader copytrader_test \
        || { pg_stop; return 1; }
    export PG_BIN PG_DIR PG_PORT
    export COPYTRADER_TEST_PG_URL="postgresql+psycopg://copytrader@127.0.0.1:$PG_PORT/copytrader_test"
    _pg_log "$("$PG_BIN/postgres" --version) up: $COPYTRADER_TEST_PG_URL"
    if [ -z "$(trap -p EXIT)" ]; then
        trap pg_stop EXIT
    fi
    return 0
}

pg_start
