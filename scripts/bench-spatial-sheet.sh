#!/usr/bin/env bash
# The spatial sheet at a given scale (default 1.0: 1,000,000 neurons, ~500 synapses each) on 2 ranks x 1
# thread, once per balancer: construction time, peak memory per rank, RTF, and remote spikes per window.
# Ranks are in-process threads of one process by default (one peak for both), or MPI processes with --mpi
# (each rank's own peak; needs Open MPI, which scripts/test.sh installs).
#
#   bash scripts/bench-spatial-sheet.sh [--scale F] [--t-presim MS] [--t-sim MS] [--quick]
#                                       [--balancers "round-robin cost-blocks"] [--mpi]
# Each run: 500 ms warm-up + 10000 ms (the reference protocol; about 7 minutes per balancer at scale 1 on
# 2 cores, plus construction); --quick: 100 ms + 1000 ms.
set -euo pipefail
cd "$(dirname "$0")/.."
scale=1; presim=500; tsim=10000; balancers="round-robin cost-blocks"; mpi=0
while [ $# -gt 0 ]; do
    case "$1" in
        --scale) scale=$2; shift 2 ;;
        --t-presim) presim=$2; shift 2 ;;
        --t-sim) tsim=$2; shift 2 ;;
        --quick) presim=100; tsim=1000; shift ;;
        --balancers) balancers=$2; shift 2 ;;
        --mpi) mpi=1; shift ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
if [ "$mpi" = 1 ]; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_mpi_yield_when_idle=1
    # A target folder of its own: toggling the feature in target/ would rebuild the binary under other runs.
    cargo build --release --quiet --features mpi --target-dir target/mpi
    launch=(mpirun -n 2 --bind-to none target/mpi/release/cajal)
    ranks=()
else
    cargo build --release --quiet
    launch=(target/release/cajal)
    ranks=(--ranks 2)
fi
base=$(mktemp -d)
trap 'rm -rf "$base"' EXIT
for b in $balancers; do
    "${launch[@]}" run models/spatial_sheet.toml --scale "$scale" --t-presim "$presim" --t-sim "$tsim" --no-spikes \
        "${ranks[@]}" --threads 1 --balancer "$b" --out "$base/$b" > "$base/$b.log"
done
python3 - "$base" "$mpi" $balancers <<'PY'
import json, sys
base, mpi, balancers = sys.argv[1], sys.argv[2] == "1", sys.argv[3:]
for b in balancers:
    s = json.load(open(f"{base}/{b}/summary.json"))
    peaks = [r["peak_rss_bytes"] / 2**30 for r in json.load(open(f"{base}/{b}/perf.json"))["per_rank"]]
    peak = ", ".join(f"{p:.2f}" for p in peaks) + " GiB" + ("" if mpi else " (one process for both)")
    windows = round(s["t_sim_ms"] / s["dt_ms"]) / s["window_steps"]  # the report covers the simulate phase
    remote = [r["remote_spikes_sent"] for r in s["per_rank"]]
    rates = ", ".join(f"{p['name']} {p['rate_hz']:.2f} Hz" for p in s["populations"])
    print(f"{b:<12} neurons {s['neurons']}  synapses {s['synapses']}  construct {s['wall_s']['construct']:.1f} s  "
          f"RTF {s['rtf']:.2f}  peak RSS per rank {peak}  "
          f"remote spikes per rank per window {', '.join(f'{r / windows:.0f}' for r in remote)}  ({rates})")
PY
