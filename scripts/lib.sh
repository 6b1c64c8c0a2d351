# shellcheck shell=bash
# Shared setup for scripts/serve-demo.sh, scripts/test.sh and scripts/lint.sh. Source it; do not run it.
#
# What it provides:
#   WANGGE_ROOT             the repository root (the scripts cd there)
#   WANGGE_VENV             the virtualenv (default: $WANGGE_ROOT/.venv)
#   say / die               progress and error lines prefixed "wangge:"
#   need_deb PKG            remember a Debian package the next install must bring in
#   want_deb PKG            the same, but only when root: otherwise just a note
#   install_debs            install what need_deb/want_deb collected (apt-get, as root)
#   choose_python           pick python3.13/3.12/3.11/python3 (>= 3.11); or $WANGGE_PYTHON
#   need_base_debs          the system packages the service itself needs
#   ensure_venv             create the virtualenv if missing or unusable
#   ensure_install [EXTRA]  pip install -e ".[EXTRA]" unless nothing changed since last time
#   ensure_map_assets       npm ci in maps/assets (the maps' JS/CSS) unless nothing changed
#
# System packages, by platform (the scripts install them only on Debian/Ubuntu):
#   Debian/Ubuntu: libsqlite3-mod-spatialite, python3-venv, nodejs and npm (the maps' assets,
#                  when npm is missing); for tests also postgresql, postgresql-<major>-postgis-3,
#                  chromium and fonts-wqy-microhei (Chinese text in the maps' screenshots)
#   Fedora:        libspatialite (and postgresql-server, postgis, chromium for tests)
#   macOS:         brew install spatialite-tools (and postgresql, postgis for tests)

WANGGE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$WANGGE_ROOT" || exit 1

WANGGE_VENV="${WANGGE_VENV:-$WANGGE_ROOT/.venv}"
case "$WANGGE_VENV" in
    /*) ;;
    *) WANGGE_VENV="$WANGGE_ROOT/$WANGGE_VENV" ;;
esac
export WANGGE_VENV

say() { printf 'wangge: %s\n' "$*" >&2; }
die() {
    printf 'wangge: error: %s\n' "$*" >&2
    exit 1
}

is_root() { [ "$(id -u)" -eq 0 ]; }
have() { command -v "$1" >/dev/null 2>&1; }
is_debian() { have dpkg-query && have apt-get; }

# ---------------------------------------------------------------- Debian packages

_WANGGE_NEED_DEBS=()
_WANGGE_WANT_DEBS=()

deb_installed() {
    dpkg-query -W -f='${Status}\n' "$1" 2>/dev/null | grep -q ' installed$'
}

need_deb() {
    local pkg
    for pkg in "$@"; do
        if is_debian && ! deb_installed "$pkg"; then
            _WANGGE_NEED_DEBS+=("$pkg")
        fi
    done
}

want_deb() {
    local pkg
    for pkg in "$@"; do
        if is_debian && ! deb_installed "$pkg"; then
            _WANGGE_WANT_DEBS+=("$pkg")
        fi
    done
}

install_debs() {
    local need=(${_WANGGE_NEED_DEBS[@]+"${_WANGGE_NEED_DEBS[@]}"})
    local want=(${_WANGGE_WANT_DEBS[@]+"${_WANGGE_WANT_DEBS[@]}"})
    _WANGGE_NEED_DEBS=()
    _WANGGE_WANT_DEBS=()
    if ! is_root; then
        if [ "${#want[@]}" -gt 0 ]; then
            say "note: optional packages missing (not root, skipped): ${want[*]}"
            say "      to add them: sudo apt-get install -y ${want[*]}"
        fi
        if [ "${#need[@]}" -gt 0 ]; then
            say "missing system packages: ${need[*]}"
            say "install them, then run this script again:"
            printf '\n    sudo apt-get update && sudo apt-get install -y --no-install-recommends %s\n\n' "${need[*]}" >&2
            exit 1
        fi
        return 0
    fi
    [ "$((${#need[@]} + ${#want[@]}))" -gt 0 ] || return 0

    export DEBIAN_FRONTEND=noninteractive
    if [ -z "${_WANGGE_APT_UPDATED:-}" ]; then
        say "apt-get update"
        apt-get update -q || die "apt-get update failed"
        _WANGGE_APT_UPDATED=1
    fi
    if [ "${#need[@]}" -gt 0 ]; then
        say "installing system packages: ${need[*]}"
        apt-get install -y -q --no-install-recommends "${need[@]}" </dev/null ||
            die "apt-get install ${need[*]} failed"
    fi
    if [ "${#want[@]}" -gt 0 ]; then
        say "installing optional system packages: ${want[*]}"
        apt-get install -y -q --no-install-recommends "${want[@]}" </dev/null ||
            say "warning: could not install ${want[*]}; the tests that need them will not run"
    fi
}

# ---------------------------------------------------------------- Python

# Prints the absolute path of the interpreter to build the virtualenv with.
choose_python() {
    local cand exe
    local cands=(python3.13 python3.12 python3.11 python3)
    if [ -n "${WANGGE_PYTHON:-}" ]; then
        cands=("$WANGGE_PYTHON")
    fi
    for cand in "${cands[@]}"; do
        have "$cand" || continue
        # pyenv shims exist for versions that are not active and fail when run: run each.
        exe="$("$cand" -c 'import sys; print(sys.executable if sys.version_info >= (3, 11) else "")' 2>/dev/null)" ||
            continue
        if [ -n "$exe" ]; then
            printf '%s\n' "$exe"
            return 0
        fi
    done
    return 1
}

# Debian splits venv/ensurepip into pythonX.Y-venv; needed only for a system interpreter.
_venv_deb_for() {
    local py="$1" ver default_ver
    "$py" -c 'import ensurepip, venv' >/dev/null 2>&1 && return 0
    case "$py" in
        /usr/bin/*) ;;
        *) return 0 ;; # not Debian's python: apt can't help, python -m venv will say why
    esac
    ver="$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
    default_ver="$(/usr/bin/python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true)"
    if [ "$ver" = "$default_ver" ]; then
        echo python3-venv
    else
        echo "python$ver-venv"
    fi
}

WANGGE_PY=""

# Collects the system packages the service needs (spatialite; venv support if the venv
# still has to be made). Call install_debs afterwards.
need_base_debs() {
    if ! _venv_usable; then
        WANGGE_PY="$(choose_python)" ||
            die "no Python >= 3.11 found (tried python3.13, python3.12, python3.11, python3); set WANGGE_PYTHON"
        local venv_deb
        venv_deb="$(_venv_deb_for "$WANGGE_PY")"
        [ -z "$venv_deb" ] || need_deb "$venv_deb"
    fi
    need_deb libsqlite3-mod-spatialite
    if ! is_debian; then
        say "not a Debian/Ubuntu system: make sure SpatiaLite's mod_spatialite is installed" \
            "(Fedora: libspatialite; macOS: brew install spatialite-tools)"
    fi
}

_venv_usable() {
    [ -x "$WANGGE_VENV/bin/python" ] &&
        "$WANGGE_VENV/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1 &&
        [ -x "$WANGGE_VENV/bin/pip" ]
}

ensure_venv() {
    if _venv_usable; then
        return 0
    fi
    if [ -e "$WANGGE_VENV" ]; then
        [ -f "$WANGGE_VENV/pyvenv.cfg" ] ||
            die "$WANGGE_VENV exists and is not a virtualenv; move it away or set WANGGE_VENV"
        say "virtualenv $WANGGE_VENV is broken or too old; recreating it"
        rm -rf "$WANGGE_VENV"
    fi
    if [ -z "$WANGGE_PY" ]; then
        WANGGE_PY="$(choose_python)" ||
            die "no Python >= 3.11 found (tried python3.13, python3.12, python3.11, python3); set WANGGE_PYTHON"
    fi
    say "creating virtualenv $WANGGE_VENV with $WANGGE_PY ($("$WANGGE_PY" --version 2>&1))"
    "$WANGGE_PY" -m venv "$WANGGE_VENV" || die "could not create the virtualenv (on Debian/Ubuntu: apt-get install python3-venv)"
}

# What the last install depended on: pyproject.toml, the top-level packages the editable
# install maps (a package added later needs a re-install), and where the repository is.
_install_fingerprint() {
    {
        printf '%s\n' "$WANGGE_ROOT"
        cat pyproject.toml
        ls -d -- */__init__.py 2>/dev/null || true
    } | cksum | cut -d' ' -f1
}

# ensure_install [EXTRA]: pip install -e . (or -e ".[EXTRA]"), skipped when nothing changed.
ensure_install() {
    local extra="${1:-}" spec="." stamp fp
    [ -z "$extra" ] || spec=".[$extra]"
    stamp="$WANGGE_VENV/.wangge-installed${extra:+-$extra}"
    fp="$(_install_fingerprint)"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$fp" ]; then
        say "python packages up to date ($spec)"
        return 0
    fi
    say "upgrading pip"
    "$WANGGE_VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip </dev/null ||
        die "pip upgrade failed"
    say "installing wangge and its dependencies: pip install -e \"$spec\""
    "$WANGGE_VENV/bin/python" -m pip install -q --disable-pip-version-check -e "$spec" </dev/null ||
        die "pip install -e \"$spec\" failed"
    printf '%s\n' "$fp" >"$stamp"
    # An install with extras includes the plain one.
    [ -z "$extra" ] || printf '%s\n' "$fp" >"$WANGGE_VENV/.wangge-installed"
}

# All of the shared setup: system packages, virtualenv, pip install. EXTRA as for ensure_install.
# Extra Debian packages may be queued with need_deb/want_deb before calling it.
setup_python_env() {
    need_base_debs
    install_debs
    ensure_venv
    ensure_install "${1:-}"
}

# ---------------------------------------------------------------- map assets

# The maps' JavaScript and CSS (Leaflet, its plugins, Font Awesome, ...) come from the npm
# registry, pinned by maps/assets/package-lock.json, into maps/assets/node_modules, which wangge
# serves itself under /static/vendor: the maps never ask a CDN. `npm ci` runs again only when
# package.json or package-lock.json changed (stamp: node_modules/.wangge-installed).
ensure_map_assets() {
    local dir="$WANGGE_ROOT/maps/assets" stamp fp
    stamp="$dir/node_modules/.wangge-installed"
    fp="$(cat "$dir/package.json" "$dir/package-lock.json" | cksum | cut -d' ' -f1)"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$fp" ]; then
        say "map assets up to date (maps/assets/node_modules)"
        return 0
    fi
    if ! have npm; then
        need_deb nodejs npm
        install_debs
        have npm || die "npm is needed to install the maps' JavaScript and CSS (Node.js 18 or newer with npm); install it and run this script again"
    fi
    say "installing the map assets: npm ci in maps/assets"
    (cd "$dir" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error) </dev/null ||
        die "npm ci in maps/assets failed"
    printf '%s\n' "$fp" >"$stamp"
}
