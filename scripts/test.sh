#!/usr/bin/env bash
# Runs the whole cajal test suite on a fresh or a warm machine: installs what the tests need (Open MPI,
# libclang, the moto S3 server; idempotent and quick when everything is already there), starts the S3
# server on a loopback port, then runs every test with optimisation.
#
#   bash scripts/test.sh            # everything
#   bash scripts/test.sh -- NAME    # only tests whose name contains NAME (passed to cargo test)
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages the tests need, as Debian package names: Open MPI (runtime, headers, and the ssh client
# its launcher insists on), and libclang + pkg-config for building the MPI bindings.
SYSTEM_PACKAGES=(openmpi-bin libopenmpi-dev openssh-client libclang-dev pkg-config)

install_system_packages() {
    local missing=()
    for p in "${SYSTEM_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "installing: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
}

if [ ${#SYSTEM_PACKAGES[@]} -gt 0 ]; then
    install_system_packages
fi

command -v cargo >/dev/null || { echo "error: cargo not found; install Rust (rustup) first" >&2; exit 1; }

# Open MPI in containers: allow root, never busy-wait when ranks outnumber cores, launch locally.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_mpi_yield_when_idle=1

# The S3 test server: moto in a venv of its own (installed once), on a free loopback port, one bucket.
S3_VENV=.venv-s3
if [ ! -x "$S3_VENV/bin/moto_server" ]; then
    echo "installing the S3 test server (moto) into $S3_VENV"
    python3 -m venv "$S3_VENV"
    "$S3_VENV/bin/pip" install --quiet 'moto[server]'
fi
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p target
"$S3_VENV/bin/moto_server" -H 127.0.0.1 -p "$port" > target/moto.log 2>&1 &
moto_pid=$!
trap 'kill "$moto_pid" 2>/dev/null || true' EXIT
python3 - "$port" <<'PY'
import sys, time, urllib.request
url = f"http://127.0.0.1:{sys.argv[1]}"
for _ in range(200):
    try:
        urllib.request.urlopen(url, timeout=1)
        break
    except Exception:
        time.sleep(0.05)
urllib.request.urlopen(urllib.request.Request(f"{url}/cajal-test", method="PUT"), timeout=5)
PY
export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
export AWS_REGION=us-east-1 CAJAL_TEST_S3_BUCKET=cajal-test

# Simulation tests crawl without optimisation: the suite runs in the release profile, sharing its build
# with `cargo run --release`. --all-targets also runs the criterion benches once each, as smoke tests.
# The MPI and S3-test features are on, so the tests that start `mpirun -n P cajal ...` and those against
# the S3 server run too.
extra=()
if [ "${1:-}" = "--" ]; then shift; extra=("$@"); fi
cargo test --release --workspace --all-targets --features cajal/mpi,cajal/s3-tests "${extra[@]}"
