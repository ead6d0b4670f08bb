#!/usr/bin/env bash
# Makes the NEST reference spikes of the Potjans-Diesmann microcircuit (models/microcircuit.toml) kept in
# tests/data/nest/, with NEST 3.10.0 through scripts/nest_microcircuit.py --spikes-dir:
#
#   tests/data/nest/microcircuit_s0.1/seed<N>/   scale 0.1,  seeds 1..5, 1 thread
#   tests/data/nest/microcircuit_s0.25/seed<N>/  scale 0.25, seeds 1..3, 2 threads
#
# each holding summary.json and spikes/<population>.csv (0.5 s warm-up, 1 s analysed), and writes
# tests/data/nest/README.md (provenance: version, commands, date, machine, format, licence).
#
#   bash scripts/make-nest-references.sh [--scale-0-1-only | --scale-0-25-only]
#
# Takes about 1.5 minutes for scale 0.1 (5 seeds, 15-20 s each) and about 6.5 minutes for scale 0.25
# (3 seeds, about 2 minutes each) on a 2-core machine, plus the NEST install on first use.
# The venv is ${NEST_VENV:-.venv-nest} (relative to the repo root unless absolute); if `import nest` fails
# there, it is created and nest-simulator 3.10.0 and numpy are installed into it with pip. Set PYTHON to
# choose the interpreter for a new venv (Python >= 3.11, for tomllib).
set -euo pipefail

NEST_VERSION=3.10.0
DO_01=1
DO_025=1

die() { echo "make-nest-references: error: $*" >&2; exit 1; }
usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; }

while [[ $# -gt 0 ]]; do
    case "$1" in
        --scale-0-1-only) DO_025=0; shift ;;
        --scale-0-25-only) DO_01=0; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
done
[[ $DO_01 == 1 || $DO_025 == 1 ]] || die "--scale-0-1-only and --scale-0-25-only exclude each other"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${NEST_VENV:-.venv-nest}"
OUT=tests/data/nest

# ---- 1. Python venv with NEST (idempotent) ----
source scripts/nest-venv.sh
ensure_nest_venv "$VENV" "$NEST_VERSION"
PYTHON_NEST="$VENV/bin/python"

# ---- 2. The runs ----
# run SCALE THREADS SEED...: one NEST run per seed into $OUT/microcircuit_s<SCALE>/seed<N>/
COMMANDS=()
run() {
    local scale="$1" threads="$2"
    shift 2
    for seed in "$@"; do
        local dir="$OUT/microcircuit_s$scale/seed$seed"
        rm -rf "$dir"
        mkdir -p "$dir"
        local cmd=(python scripts/nest_microcircuit.py --scale "$scale" --seed "$seed" --threads "$threads"
                   --t-presim 500 --t-sim 1000 --spikes-dir "$dir")
        echo "== ${cmd[*]}"
        local t0=$SECONDS
        "$PYTHON_NEST" "${cmd[@]:1}" >/dev/null || die "NEST run failed: ${cmd[*]}"
        echo "   done in $((SECONDS - t0)) s"
    done
}
if [[ $DO_01 == 1 ]]; then
    run 0.1 1 1 2 3 4 5
fi
if [[ $DO_025 == 1 ]]; then
    run 0.25 2 1 2 3
fi

# ---- 3. Provenance ----
DATE="$(date -u +%Y-%m-%d)"
CORES="$(nproc 2>/dev/null || echo '?')"
CPU="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n 1)"
PYVER="$("$PYTHON_NEST" -c 'import sys; print(sys.version.split()[0])')"
NUMPYVER="$("$PYTHON_NEST" -c 'import numpy; print(numpy.__version__)')"
cat > "$OUT/README.md" <<EOF
# NEST reference spikes of the Potjans-Diesmann microcircuit

Spikes of the cortical microcircuit of \`models/microcircuit.toml\` as NEST simulates it, for tests and
validation scripts that compute per-population statistics (rates, irregularity, synchrony) from spikes
and compare them with cajal's. Made by \`scripts/make-nest-references.sh\`, which builds and runs the network
with \`scripts/nest_microcircuit.py\` (the same population sizes, synapse totals, weights, delays, Poisson
background and DC compensation of downscaled in-degrees as cajal derives from the model file).

| directory | scale | neurons | seeds | NEST threads |
|---|---|---|---|---|
| \`microcircuit_s0.1/seed<N>/\` | 0.1 | 7,717 | 1, 2, 3, 4, 5 | 1 |
| \`microcircuit_s0.25/seed<N>/\` | 0.25 | 19,292 | 1, 2, 3 | 2 |

Every run: dt = 0.1 ms, 500 ms warm-up (\`t_presim\`), then the analysed 1000 ms (\`t_sim\`); the seed is
NEST's \`rng_seed\`. NEST's spikes depend on the seed and on the number of threads (they are not the same
network as cajal's for the same seed: compare statistics, not spikes).

## Files

Each \`seed<N>/\` directory holds:

- \`summary.json\`: the summary \`scripts/nest_microcircuit.py\` writes (shaped like cajal's summary.json):
  neurons, synapses, per-population size, \`spike_count\` and \`rate_hz\` over the analysed period, and
  the run's wall times and peak memory on the machine below (machine-dependent, informative only).
- \`spikes/<population>.csv\`, one per population (L23E, L23I, L4E, L4I, L5E, L5I, L6E, L6I), in cajal's
  spike-file format: a header line \`sender,time_ms\`, then one line per spike of the analysed period,
  sorted by (time, sender).
  - \`sender\`: the 0-based global neuron index in cajal's numbering: populations contiguous in the model
    file's order from 0 (L23E is 0..N_L23E-1, L23I follows, ...). It is NEST's node id - 1 (the populations
    are the first nodes NEST creates; the script checks that their ids start at 1 and are contiguous).
  - \`time_ms\`: NEST's spike time stamp in ms, with one decimal (dt = 0.1 ms), in
    (t_presim, t_presim + t_sim] = (500, 1500].

The number of lines after the header equals \`spike_count\` in summary.json.

## How they were made

- NEST $NEST_VERSION (Python package \`nest-simulator\` $NEST_VERSION, installed with pip), Python $PYVER,
  numpy $NUMPYVER.
- Date: $DATE.
- Machine: a $CORES-core virtual machine (${CPU:-CPU unknown}), Linux.
- Commands, from the repository root (\`python\` is the venv's, with NEST):

\`\`\`sh
bash scripts/make-nest-references.sh
# which runs, for each seed:
python scripts/nest_microcircuit.py --scale 0.1 --seed N --threads 1 --t-presim 500 --t-sim 1000 \\
    --spikes-dir tests/data/nest/microcircuit_s0.1/seedN        # N = 1, 2, 3, 4, 5
python scripts/nest_microcircuit.py --scale 0.25 --seed N --threads 2 --t-presim 500 --t-sim 1000 \\
    --spikes-dir tests/data/nest/microcircuit_s0.25/seedN       # N = 1, 2, 3
\`\`\`

## Licence

The data were generated by us by running NEST (a GPL program) on the project's own model description; no
NEST code is included. The output data are ours and are licensed like the rest of this repository, under
MIT OR Apache-2.0.
EOF
echo "== wrote $OUT/README.md"
du -sh "$OUT"
