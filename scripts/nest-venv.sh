# Sourced by the scripts that run NEST: `ensure_nest_venv VENV VERSION` makes VENV a Python venv in which
# `import nest` gives NEST VERSION (pip's nest-simulator) and numpy, creating or completing it when needed
# (idempotent: a ready venv is left alone). PYTHON chooses the interpreter (Python >= 3.11, for tomllib).
# Exits with a message on failure.

ensure_nest_venv() {
    local venv=$1 version=$2
    local fail
    fail() { echo "nest-venv: error: $*" >&2; exit 1; }
    nest_ready() {
        "$venv/bin/python" -c "import numpy, nest, sys; sys.exit(nest.__version__ != '$version')" >/dev/null 2>&1
    }
    nest_ready && return 0
    local py="${PYTHON:-python3}"
    command -v "$py" >/dev/null || fail "$py not found (set PYTHON to a Python >= 3.11)"
    "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
        || fail "$py is older than 3.11 (tomllib is needed); set PYTHON to a newer one"
    echo "== setting up $venv with nest-simulator $version (first run only)"
    [[ -x "$venv/bin/python" ]] || "$py" -m venv "$venv" || fail "could not create the venv $venv"
    "$venv/bin/python" -m pip install --quiet --upgrade pip || fail "could not upgrade pip in $venv"
    "$venv/bin/python" -m pip install --quiet "nest-simulator==$version" numpy \
        || fail "pip could not install nest-simulator $version and numpy"
    nest_ready || fail "NEST $version does not import in $venv; try: $venv/bin/python -c 'import nest'"
}
