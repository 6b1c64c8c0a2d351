#!/usr/bin/env bash
# Run every wangge test: SpatiaLite, PostGIS (a real server) and, later, browser tests.
#
#   scripts/test.sh                    all tests
#   scripts/test.sh -k locate -x       extra arguments go to pytest
#
# Setup, as scripts/serve-demo.sh does (system packages, .venv, pip install -e ".[test]"
# with Playwright for the browser tests, npm ci for the maps' assets), plus the Debian/Ubuntu
# packages the tests need: postgresql-<major>-postgis-3 for the installed PostgreSQL server
# (postgresql itself if there is none), and chromium and fonts-wqy-microhei for the browser
# tests (as root only; they drive Debian's /usr/bin/chromium, or WANGGE_CHROMIUM).
# Then a PostgreSQL server with PostGIS:
#   - WANGGE_TEST_POSTGRES_URL already set: used as it is;
#   - a server answering on 127.0.0.1:5432 (Debian's cluster is started if it is stopped):
#     database wangge_test (WANGGE_TEST_PG_DB) with the postgis extension, user postgres;
#   - otherwise, or with WANGGE_TEST_THROWAWAY_PG=1: a throwaway server in a temporary
#     directory on 127.0.0.1:55432 (WANGGE_TEST_PG_PORT), removed when the script exits.
# WANGGE_TEST_POSTGRES_URL is exported for the tests. The exit code is pytest's.
set -euo pipefail

# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PG_DB="${WANGGE_TEST_PG_DB:-wangge_test}"
PG_BINDIR=""
PG_TMP=""
PG_AS=()

# Major version of the local PostgreSQL server: the cluster on port 5432 if Debian's
# cluster tools know one, else the newest server installed under /usr/lib/postgresql.
pg_server_major() {
    local v=""
    if have pg_lsclusters; then
        v="$(pg_lsclusters -h 2>/dev/null | awk '$3 == 5432 { print $1; exit }')"
    fi
    if [ -z "$v" ]; then
        v="$(find /usr/lib/postgresql -mindepth 3 -maxdepth 3 -path '*/bin/postgres' 2>/dev/null |
            awk -F/ '{ print $5 }' | sort -n | tail -n 1)"
    fi
    printf '%s\n' "$v"
}

# Path of a PostgreSQL program: the server's own bin directory first, then PATH.
pg_tool() {
    if [ -n "$PG_BINDIR" ] && [ -x "$PG_BINDIR/$1" ]; then
        printf '%s\n' "$PG_BINDIR/$1"
    elif have "$1"; then
        command -v "$1"
    else
        return 1
    fi
}

pg_ready() { # HOST PORT
    local isready
    isready="$(pg_tool pg_isready)" || return 1
    "$isready" -q -h "$1" -p "$2" -t 3 >/dev/null 2>&1
}

wait_pg_ready() { # HOST PORT SECONDS
    local i
    for ((i = 0; i < $3; i++)); do
        pg_ready "$1" "$2" && return 0
        sleep 1
    done
    return 1
}

# psql HOST PORT DB SQL... as the superuser postgres (trust auth)
pg_sql() {
    local host="$1" port="$2" db="$3"
    shift 3
    PGOPTIONS='-c client_min_messages=warning' "$(pg_tool psql)" -X -q -At -v ON_ERROR_STOP=1 -h "$host" -p "$port" -U postgres -d "$db" "$@" </dev/null
}

# Create the test database and the postgis extension in it.
prepare_test_db() { # HOST PORT
    local host="$1" port="$2"
    if [ "$(pg_sql "$host" "$port" postgres -c "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'")" != 1 ]; then
        say "creating database $PG_DB"
        # Another run may create it at the same moment: only fail if it is still missing.
        pg_sql "$host" "$port" postgres -c "CREATE DATABASE \"$PG_DB\"" 2>/dev/null ||
            [ "$(pg_sql "$host" "$port" postgres -c "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'")" = 1 ] ||
            die "could not create database $PG_DB on $host:$port"
    fi
    pg_sql "$host" "$port" "$PG_DB" -c 'CREATE EXTENSION IF NOT EXISTS postgis' ||
        die "CREATE EXTENSION postgis failed in $PG_DB on $host:$port (is postgresql-<major>-postgis-3 installed for that server?)"
    say "PostGIS $(pg_sql "$host" "$port" "$PG_DB" -c 'SELECT postgis_lib_version()') in $PG_DB on $host:$port"
}

# shellcheck disable=SC2329 # run by the EXIT trap
stop_throwaway_pg() {
    [ -n "$PG_TMP" ] || return 0
    if [ -f "$PG_TMP/data/postmaster.pid" ]; then
        say "stopping the throwaway PostgreSQL server"
        (cd "$PG_TMP" && ${PG_AS[@]+"${PG_AS[@]}"} "$(pg_tool pg_ctl)" -D "$PG_TMP/data" -m immediate -w stop) >/dev/null 2>&1 || true
    fi
    rm -rf "$PG_TMP"
    PG_TMP=""
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start_throwaway_pg() {
    local initdb pg_ctl port tries=0 base="${TMPDIR:-/tmp}"
    if ! initdb="$(pg_tool initdb)" || ! pg_ctl="$(pg_tool pg_ctl)"; then
        die "initdb/pg_ctl not found (looked in /usr/lib/postgresql/*/bin and PATH); install PostgreSQL"
    fi
    if is_root; then
        # initdb refuses to run as root: the server belongs to the postgres user.
        getent passwd postgres >/dev/null || die "running as root but there is no postgres user to own the server"
        PG_AS=(runuser -u postgres --)
        base=/tmp
    fi
    port="${WANGGE_TEST_PG_PORT:-55432}"
    while port_in_use "$port"; do
        tries=$((tries + 1))
        [ "$tries" -lt 20 ] || die "no free port from ${WANGGE_TEST_PG_PORT:-55432} up for the throwaway server"
        port=$((port + 1))
    done

    PG_TMP="$(mktemp -d "$base/wangge-pg.XXXXXX")"
    trap stop_throwaway_pg EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    if is_root; then
        chown postgres: "$PG_TMP"
    fi
    say "starting a throwaway PostgreSQL server in $PG_TMP on 127.0.0.1:$port"
    (cd "$PG_TMP" && ${PG_AS[@]+"${PG_AS[@]}"} "$initdb" -D "$PG_TMP/data" -U postgres -A trust -E UTF8 --no-locale --no-sync) \
        >"$PG_TMP/initdb.log" 2>&1 || {
        cat "$PG_TMP/initdb.log" >&2
        die "initdb failed"
    }
    cat >>"$PG_TMP/data/postgresql.conf" <<EOF

# wangge throwaway test server
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$PG_TMP'
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
    (cd "$PG_TMP" && ${PG_AS[@]+"${PG_AS[@]}"} "$pg_ctl" -D "$PG_TMP/data" -l "$PG_TMP/server.log" -w -t 60 start) >/dev/null 2>&1 || {
        tail -n 30 "$PG_TMP/server.log" >&2 || true
        die "the throwaway PostgreSQL server did not start"
    }
    wait_pg_ready 127.0.0.1 "$port" 30 || die "the throwaway PostgreSQL server does not answer on 127.0.0.1:$port"
    PG_PORT="$port"
}

# ---------------------------------------------------------------- system packages, venv

pg_preset=0
[ -z "${WANGGE_TEST_POSTGRES_URL:-}" ] || pg_preset=1

PG_MAJOR=""
if [ "$pg_preset" -eq 0 ]; then
    PG_MAJOR="$(pg_server_major)"
    [ -n "$PG_MAJOR" ] || need_deb postgresql
fi
want_deb chromium fonts-wqy-microhei
setup_python_env test
ensure_map_assets

if [ "$pg_preset" -eq 0 ]; then
    PG_MAJOR="$(pg_server_major)"
    if [ -n "$PG_MAJOR" ]; then
        need_deb "postgresql-$PG_MAJOR-postgis-3"
        install_debs
        PG_BINDIR="/usr/lib/postgresql/$PG_MAJOR/bin"
    elif have pg_config; then
        PG_BINDIR="$(pg_config --bindir)"
    fi
fi

# ---------------------------------------------------------------- PostgreSQL + PostGIS

if [ "$pg_preset" -eq 1 ]; then
    say "PostgreSQL: using WANGGE_TEST_POSTGRES_URL as given"
else
    PG_HOST=127.0.0.1
    PG_PORT=5432
    use_local=0
    if [ "${WANGGE_TEST_THROWAWAY_PG:-0}" = 1 ]; then
        say "WANGGE_TEST_THROWAWAY_PG=1: not using a server on 127.0.0.1:5432"
    elif pg_ready "$PG_HOST" "$PG_PORT"; then
        if pg_sql "$PG_HOST" "$PG_PORT" postgres -c 'SELECT 1' >/dev/null; then
            use_local=1
        else
            say "cannot log in as postgres (trust auth) on $PG_HOST:$PG_PORT; using a throwaway server"
        fi
    elif [ -n "$PG_MAJOR" ] && have pg_ctlcluster && have pg_lsclusters &&
        pg_lsclusters -h 2>/dev/null | awk -v v="$PG_MAJOR" '$1 == v && $2 == "main" { f = 1 } END { exit !f }'; then
        say "starting the stopped PostgreSQL $PG_MAJOR cluster 'main'"
        if pg_ctlcluster --skip-systemctl-redirect "$PG_MAJOR" main start </dev/null &&
            wait_pg_ready "$PG_HOST" "$PG_PORT" 30; then
            use_local=1
        else
            say "could not start it; falling back to a throwaway server"
        fi
    fi
    if [ "$use_local" -eq 1 ]; then
        say "PostgreSQL: using the server on $PG_HOST:$PG_PORT"
    else
        start_throwaway_pg
    fi
    prepare_test_db "$PG_HOST" "$PG_PORT"
    export WANGGE_TEST_POSTGRES_URL="postgresql://postgres@$PG_HOST:$PG_PORT/$PG_DB"
fi

# ---------------------------------------------------------------- pytest

say "running: pytest -ra $*"
rc=0
"$WANGGE_VENV/bin/python" -m pytest -ra "$@" || rc=$?
say "pytest exit code: $rc"
exit "$rc"
