#!/usr/bin/env bash
# Ranks versus threads on the same cores: the microcircuit as 1 rank x N threads, then N MPI ranks x 1
# thread (mpirun), N in-process ranks x 1 thread (--ranks), each repeated; prints wall times, the
# exchange's share of the simulate phase and the bytes each rank sends per window, and the medians.
#
#   bash scripts/bench-ranks.sh [--scale F] [--n N] [--t-presim MS] [--t-sim MS] [--repeat K] [--quick]
# Defaults: full scale, N = 2, 500 ms warm-up, 10000 ms simulated (the reference protocol), 3 repeats;
# --quick: 100 ms warm-up + 1000 ms. Needs Open MPI
# (scripts/test.sh installs it) and builds cajal with --features mpi.
set -euo pipefail
cd "$(dirname "$0")/.."
scale=1; n=2; presim=500; tsim=10000; repeat=3
while [ $# -gt 0 ]; do
    case "$1" in
        --scale) scale=$2; shift 2 ;;
        --n) n=$2; shift 2 ;;
        --t-presim) presim=$2; shift 2 ;;
        --t-sim) tsim=$2; shift 2 ;;
        --repeat) repeat=$2; shift 2 ;;
        --quick) presim=100; tsim=1000; shift ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_mpi_yield_when_idle=1
# A target folder of its own: toggling the feature in target/ would rebuild the binary under other runs.
cargo build --release --quiet --features mpi --target-dir target/mpi
cajal=target/mpi/release/cajal
base=$(mktemp -d)
trap 'rm -rf "$base"' EXIT
common=(run models/microcircuit.toml --scale "$scale" --t-presim "$presim" --t-sim "$tsim" --no-spikes)
for i in $(seq 1 "$repeat"); do
    "$cajal" "${common[@]}" --threads "$n" --out "$base/threads$i" > /dev/null
    mpirun -n "$n" --bind-to none "$cajal" "${common[@]}" --threads 1 --out "$base/mpi$i" > /dev/null
    "$cajal" "${common[@]}" --ranks "$n" --threads 1 --out "$base/inproc$i" > /dev/null
done
python3 - "$base" "$repeat" "$n" <<'PY'
import json, statistics, sys
base, repeat, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
layouts = [("threads", f"1 rank x {n} threads"), ("mpi", f"{n} MPI ranks x 1 thread"), ("inproc", f"{n} in-process ranks x 1 thread")]
digests = set()
medians = {}
for key, label in layouts:
    runs = [json.load(open(f"{base}/{key}{i}/summary.json")) for i in range(1, repeat + 1)]
    digests.update(r["spikes_digest"] for r in runs)
    sim = statistics.median(r["wall_s"]["simulate"] for r in runs)
    total = statistics.median(sum(r["wall_s"].values()) for r in runs)
    medians[key] = (sim, total)
    share = statistics.median(max(p["exchange_share"] for p in r["per_rank"]) for r in runs)
    per_window = statistics.median(max(p["bytes_sent_per_window"] for p in r["per_rank"]) for r in runs)
    print(f"{label:<32} simulate {sim:7.2f} s  total {total:7.2f} s  exchange share {100 * share:5.1f} %  "
          f"max bytes sent per rank per window {per_window:8.1f}")
s = runs[0]
print(f"({s['neurons']} neurons, {s['synapses']} synapses, {s['t_sim_ms']:.0f} ms simulated, medians of {repeat} runs)")
for key, label in layouts[1:]:
    print(f"{label} / 1 rank x {n} threads: simulate {medians[key][0] / medians['threads'][0]:.3f}, total {medians[key][1] / medians['threads'][1]:.3f}")
print("identical spikes across layouts:", "yes" if len(digests) == 1 else f"NO ({digests})")
PY
