#!/usr/bin/env bash
# Benchmarks of the spatial API (issue 3, "Speed") on SpatiaLite and PostGIS: one command.
#
#   bench/run.sh                          both databases, full size (about 10 minutes for the API, then 10 for the maps)
#   bench/run.sh --databases spatialite   one database
#   bench/run.sh --quick                  small data, short runs (a smoke test, ~3 minutes)
#   bench/run.sh --profile                also sample the server with py-spy (installed into the venv if missing)
#   bench/run.sh --help                   every option
#
# It writes bench/results/api/ (JSON and Markdown, gitignored) and this benchmark's section of
# BENCHMARKS.md, prints the table, and exits 0 when every target is met, 1 when one is not.
# Then the maps benchmark (bench/bench_maps.py, about 10 minutes; --quick: 20,000 incidents) and
# the patrols benchmark (bench/patrol_coverage.py, PostGIS only, about 20 minutes) write their own
# sections, and their results count in the exit code too. WANGGE_BENCH_ONLY=api (or maps, or
# patrols) runs just that one.
#
# Needs: the virtualenv that scripts/test.sh sets up (.venv, or WANGGE_VENV), wrk (installed
# with apt-get when missing and run as root), and for PostGIS a PostgreSQL server with PostGIS at
# WANGGE_BENCH_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/wangge_bench; the
# database wangge_bench is dropped and created anew; Debian's stopped cluster is started).
# All load goes to 127.0.0.1.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
say() { printf 'bench: %s\n' "$*" >&2; }

VENV="${WANGGE_VENV:-.venv}"
case "$VENV" in /*) ;; *) VENV="$ROOT/$VENV" ;; esac
PY="$VENV/bin/python"
if [ ! -x "$PY" ]; then
    say "no virtualenv at $VENV"
    say "set it up first with:   scripts/test.sh     (or scripts/serve-demo.sh --no-serve)"
    say "or point WANGGE_VENV at one that has wangge installed:   WANGGE_VENV=/path/to/venv bench/run.sh"
    exit 2
fi
# Bring the install up to date when pyproject.toml changed since scripts/test.sh ran (a no-op
# otherwise), with the same helper the project's scripts use.
# shellcheck source=scripts/lib.sh
export WANGGE_VENV="$VENV"
. "$ROOT/scripts/lib.sh"
ensure_install test  # the test extra brings Playwright, which the maps benchmark drives
if ! "$PY" -c 'import api.app, geopandas, shapely' >/dev/null 2>&1; then
    "$PY" -c 'import api.app, geopandas, shapely' || true
    say "the virtualenv $VENV cannot import the service (see above); run scripts/test.sh to repair it"
    exit 2
fi

if ! command -v wrk >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        say "installing wrk (apt-get)"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends wrk </dev/null >/dev/null ||
            { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends wrk </dev/null >/dev/null; } ||
            { say "could not install wrk; install it (Debian/Ubuntu: apt-get install wrk) and run again"; exit 2; }
    else
        say "wrk is missing: install it (Debian/Ubuntu: sudo apt-get install wrk; macOS: brew install wrk) and run again"
        exit 2
    fi
fi

# PostGIS is measured unless --databases leaves it out.
wants_postgis=1
prev=""
for arg in "$@"; do
    case "$arg" in
        --databases=*) [[ "${arg#--databases=}" == *postgis* ]] || wants_postgis=0 ;;
    esac
    if [ "$prev" = "--databases" ]; then [[ "$arg" == *postgis* ]] || wants_postgis=0; fi
    prev="$arg"
done
export WANGGE_BENCH_POSTGRES_URL="${WANGGE_BENCH_POSTGRES_URL:-postgresql://postgres@127.0.0.1:5432/wangge_bench}"
if [ "$wants_postgis" -eq 1 ]; then
    read -r PG_HOST PG_PORT < <("$PY" -c 'import os; from sqlalchemy.engine import make_url as m; u = m(os.environ["WANGGE_BENCH_POSTGRES_URL"]); print(u.host or "127.0.0.1", u.port or 5432)')
    pg_up() { "$PY" -c 'import socket, sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), 3).close()' "$PG_HOST" "$PG_PORT" 2>/dev/null; }
    if ! pg_up && [ "$PG_PORT" = 5432 ] && command -v pg_lsclusters >/dev/null 2>&1 && command -v pg_ctlcluster >/dev/null 2>&1; then
        ver="$(pg_lsclusters -h 2>/dev/null | awk '$2 == "main" && $3 == 5432 { print $1; exit }')"
        if [ -n "$ver" ]; then
            say "starting the stopped PostgreSQL $ver cluster 'main'"
            pg_ctlcluster --skip-systemctl-redirect "$ver" main start </dev/null || true
            for _ in $(seq 30); do pg_up && break; sleep 1; done
        fi
    fi
    if ! pg_up; then
        say "no PostgreSQL server answers at $PG_HOST:$PG_PORT ($WANGGE_BENCH_POSTGRES_URL)"
        say "start one with PostGIS (scripts/test.sh installs it), set WANGGE_BENCH_POSTGRES_URL, or run: bench/run.sh --databases spatialite"
        exit 2
    fi
fi

export WANGGE_BENCH_COMMAND="${WANGGE_BENCH_ONLY:+WANGGE_BENCH_ONLY=$WANGGE_BENCH_ONLY }bench/run.sh${*:+ $*}"
for arg in "$@"; do
    if [ "$arg" = --profile ] && [ ! -x "$VENV/bin/py-spy" ] && ! command -v py-spy >/dev/null 2>&1; then
        say "--profile: installing py-spy into $VENV"
        "$PY" -m pip install -q --disable-pip-version-check py-spy </dev/null || say "could not install py-spy; the profile is skipped"
    fi
done
# OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE, where this workplace sets them, stay: nothing measured here uses BLAS.
rc=0
only="${WANGGE_BENCH_ONLY:-}"  # api, maps or patrols: run just that benchmark
if [ -z "$only" ] || [ "$only" = api ]; then
    "$PY" -m bench.bench_api --write-md --python "$PY" "$@" || rc=$?
fi
# --quick and --profile are the only options the other benchmarks share with this one.
shared_args=()
for arg in "$@"; do
    case "$arg" in --quick | --profile) shared_args+=("$arg") ;; esac
done
# The maps (issue 5): the incident map at 100,000 incidents against a plain folium map, in headless
# Chromium (Debian's, or WANGGE_CHROMIUM; Playwright from the test extra). Its own section of BENCHMARKS.md.
if [ -z "$only" ] || [ "$only" = maps ]; then
    maps_args=()
    for arg in "$@"; do [ "$arg" != --quick ] || maps_args+=(--quick); done
    "$PY" -m bench.bench_maps --write-md ${maps_args[@]+"${maps_args[@]}"} || rc=$?
fi
# Patrols (issue 12), PostGIS only: a district's day of coverage, wangge against PostGIS directly,
# and fix ingestion over HTTP (about 20 minutes; --plain-join through bench.patrol_coverage adds
# 25). It drops and makes the database at WANGGE_BENCH_POSTGRES_URL anew, and drops it at the end.
if { [ -z "$only" ] || [ "$only" = patrols ]; } && [ "$wants_postgis" -eq 1 ]; then
    "$PY" -m bench.patrol_coverage --write-md --python "$PY" ${shared_args[@]+"${shared_args[@]}"} || rc=$?
fi
exit "$rc"
