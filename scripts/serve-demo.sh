#!/usr/bin/env bash
# Set up wangge from scratch and serve the demo community (翠湖社区).
#
#   scripts/serve-demo.sh              install, load the demo data, serve on 127.0.0.1:8000
#   scripts/serve-demo.sh --no-serve   everything but serving
#
# Steps: (1) Debian/Ubuntu packages libsqlite3-mod-spatialite and, if `python3 -m venv`
# can't work, python3-venv (installed when run as root; otherwise the apt command is
# printed; Fedora: libspatialite; macOS: brew install spatialite-tools); (2) a virtualenv
# at .venv (WANGGE_VENV) with Python >= 3.11 and `pip install -e .` (skipped when
# pyproject.toml is unchanged); (3) the maps' JavaScript and CSS: `npm ci` in maps/assets
# (Debian's nodejs and npm are installed first when npm is missing; skipped when
# package-lock.json is unchanged); (4) `wangge init` and `wangge demo` (both idempotent,
# so re-runs are safe); (5) `wangge serve`.
#
# Environment: WANGGE_DATABASE_URL (default sqlite:///<repo>/var/wangge.db), WANGGE_HOST
# (127.0.0.1), WANGGE_PORT (8000), WANGGE_VENV (.venv), WANGGE_PYTHON (interpreter to use).
set -euo pipefail

serve=1
for arg in "$@"; do
    case "$arg" in
        --no-serve) serve=0 ;;
        -h | --help)
            sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "wangge: error: unknown option $arg (try --help)" >&2
            exit 2
            ;;
    esac
done

# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

setup_python_env
ensure_map_assets

export WANGGE_DATABASE_URL="${WANGGE_DATABASE_URL:-sqlite:///$PWD/var/wangge.db}"
case "$WANGGE_DATABASE_URL" in
    sqlite:///*) mkdir -p var ;;
esac
say "database: $WANGGE_DATABASE_URL"
# Photos live beside the database (the store also makes the folder on its first photo).
export WANGGE_MEDIA_DIR="${WANGGE_MEDIA_DIR:-$PWD/var/media}"
mkdir -p "$WANGGE_MEDIA_DIR"

say "creating the schema: wangge init"
"$WANGGE_VENV/bin/wangge" init </dev/null
say "loading the demo community: wangge demo"
"$WANGGE_VENV/bin/wangge" demo </dev/null

host="${WANGGE_HOST:-127.0.0.1}"
port="${WANGGE_PORT:-8000}"
if [ "$serve" -eq 0 ]; then
    say "ready (--no-serve): start it with $WANGGE_VENV/bin/wangge serve --host $host --port $port"
    exit 0
fi
say "serving on http://$host:$port/ (Ctrl-C stops it)"
exec "$WANGGE_VENV/bin/wangge" serve --host "$host" --port "$port"
