#!/usr/bin/env bash
# Lint, format and type checks, as CI runs them before the tests (.ci/run):
#   ruff check         (pyflakes, pycodestyle, import order, bugbear, pyupgrade, complexity ≤ 15)
#   ruff format --check
#   mypy               (geo/ and data/; the files are set in pyproject.toml)
# Settings live in pyproject.toml. Sets up .venv with the test extra first, as scripts/test.sh
# does. Exits non-zero on any finding; `scripts/lint.sh --fix` applies ruff's fixes and formats.
set -euo pipefail

# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

setup_python_env test

fix=0
[ "${1:-}" = "--fix" ] && fix=1

rc=0
if [ "$fix" -eq 1 ]; then
    "$WANGGE_VENV/bin/ruff" check --fix . || rc=1
    "$WANGGE_VENV/bin/ruff" format . || rc=1
else
    say "ruff check"
    "$WANGGE_VENV/bin/ruff" check . || rc=1
    say "ruff format --check"
    "$WANGGE_VENV/bin/ruff" format --check . || rc=1
fi
say "mypy"
"$WANGGE_VENV/bin/mypy" || rc=1
[ "$rc" -eq 0 ] && say "lint, format and types: clean"
exit "$rc"
