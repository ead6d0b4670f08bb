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
# its launcher insists on), libclang + pkg-config for building the MPI bindings, and Slurm with munge for
# the job submission tests.
SYSTEM_PACKAGES=(openmpi-bin libopenmpi-dev openssh-client libclang-dev pkg-config slurm-wlm munge)

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

# The S3 test server (moto, on a free loopback port) with one bucket for the tests, and a one-node Slurm
# (munge, slurmctld, slurmd; exports SLURM_CONF) for the submission tests. Whatever this script started is
# stopped by its PID when it exits, also when a start fails.
source scripts/s3-server.sh
source scripts/slurm-local.sh
start_s3_server cajal-test   # sets its own EXIT trap, replaced here by one that also stops Slurm
export CAJAL_TEST_S3_BUCKET=cajal-test
trap 'kill "$S3_SERVER_PID" 2>/dev/null || true; stop_slurm' EXIT
start_slurm

# Simulation tests crawl without optimisation: the suite runs in the release profile, sharing its build
# with `cargo run --release`. --all-targets also runs the criterion benches once each, as smoke tests.
# The MPI, S3-test and Slurm-test features are on, so the tests that start `mpirun -n P cajal ...`, those
# against the S3 server and those that submit Slurm jobs run too.
extra=()
if [ "${1:-}" = "--" ]; then shift; extra=("$@"); fi
cargo test --release --workspace --all-targets --features cajal/mpi,cajal/s3-tests,cajal/slurm-tests "${extra[@]}"
