#!/usr/bin/env bash
# Benchmark harness: runs a model (the microcircuit unless --model) over a sweep of scales and ranks x
# threads layouts, writes one
# row per run to DIR/results.csv (and DIR/results.jsonl), and draws the scaling plots with `cajal report`
# (strong scaling: one plot per scale over the layouts; weak scaling: scale grows with the cores).
#
#   bash scripts/bench-scaling.sh [--scales "0.1 0.25"] [--layouts "1x1 1x2 2x1"] [--weak BASE]
#                                 [--model FILE] [--t-presim MS] [--t-sim MS] [--quick] [--out DIR]
# NEST's weak-scaling protocol with hpc_benchmark (neurons per rank constant, STDP on E->E):
#   bash scripts/bench-scaling.sh --model models/hpc_benchmark.toml --scales "" --weak 0.2 \
#        --t-presim 50 --t-sim 250 --layouts "1x1 2x1"
# Each run: 500 ms warm-up + 10000 ms (the reference protocol); --quick: 100 ms + 1000 ms.
# Layouts are RANKSxTHREADS; ranks > 1 run under mpirun (Open MPI; built with --features mpi into
# target/mpi). --weak BASE adds runs at scale BASE x cores for each layout.
set -euo pipefail
cd "$(dirname "$0")/.."
scales="0.1 0.25"; layouts="1x1 1x2 2x1"; weak=""; presim=500; tsim=10000; out=out/bench-scaling
model=models/microcircuit.toml
while [ $# -gt 0 ]; do
    case "$1" in
        --scales) scales=$2; shift 2 ;;
        --layouts) layouts=$2; shift 2 ;;
        --weak) weak=$2; shift 2 ;;
        --t-sim) tsim=$2; shift 2 ;;
        --t-presim) presim=$2; shift 2 ;;
        --model) model=$2; shift 2 ;;
        --quick) presim=100; tsim=1000; shift ;;
        --out) out=$2; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_mpi_yield_when_idle=1
cargo build --release --quiet --features mpi --target-dir target/mpi
cajal=target/mpi/release/cajal
mkdir -p "$out"
rm -f "$out/results.jsonl"

run_one() {  # scale layout kind
    local scale=$1 ranks=${2%x*} threads=${2#*x} kind=$3
    local dir="$out/$kind-s$scale-${ranks}x$threads"
    local args=(run "$model" --scale "$scale" --threads "$threads" --t-presim "$presim" --t-sim "$tsim" --no-spikes --out "$dir")
    if [ "$ranks" -gt 1 ]; then
        mpirun -n "$ranks" --oversubscribe --bind-to none "$cajal" "${args[@]}" > /dev/null
    else
        "$cajal" "${args[@]}" > /dev/null
    fi
    python3 - "$dir" "$kind" "$scale" >> "$out/results.jsonl" <<'PY'
import json, sys
d, kind, scale = sys.argv[1:4]
s = json.load(open(f"{d}/summary.json")); p = json.load(open(f"{d}/perf.json"))
row = {"kind": kind, "model": s["model"], "scale": float(scale), "ranks": s["ranks"], "threads": s["threads_per_rank"],
       "construct_s": s["wall_s"]["construct"], "simulate_s": s["wall_s"]["simulate"], "rtf": s["rtf"],
       "peak_rss_bytes": s["peak_rss_bytes"], "synapses": s["synapses"], "bytes_per_synapse": s["bytes_per_synapse"],
       "load_imbalance": p["load_imbalance"], "communication_share": p["communication_share"], "dir": d}
row.update({f"frac_{k}": v for k, v in p["phase_fractions"].items()})
print(json.dumps(row))
PY
    echo "$dir"
}

for scale in $scales; do
    dirs=()
    for layout in $layouts; do dirs+=("$(run_one "$scale" "$layout" strong)"); done
    "$cajal" report "${dirs[@]}" --out "$out/strong-s$scale" > /dev/null
done
if [ -n "$weak" ]; then
    dirs=()
    for layout in $layouts; do
        cores=$(( ${layout%x*} * ${layout#*x} ))
        dirs+=("$(run_one "$(python3 -c "print($weak * $cores)")" "$layout" weak)")
    done
    "$cajal" report "${dirs[@]}" --out "$out/weak" > /dev/null
fi
python3 - "$out" <<'PY'
import csv, json, sys
out = sys.argv[1]
rows = [json.loads(l) for l in open(f"{out}/results.jsonl")]
keys = sorted({k for r in rows for k in r}, key=lambda k: (k.startswith("frac_"), k))
with open(f"{out}/results.csv", "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=keys); w.writeheader(); w.writerows(rows)
print(f"{'kind':<7} {'scale':>6} {'layout':>7} {'construct s':>12} {'simulate s':>11} {'RTF':>7} {'imbalance':>10} {'comm %':>7} {'RSS GiB':>8}")
for r in rows:
    print(f"{r['kind']:<7} {r['scale']:>6} {str(r['ranks']) + 'x' + str(r['threads']):>7} {r['construct_s']:>12.2f} {r['simulate_s']:>11.2f} "
          f"{r['rtf']:>7.2f} {r['load_imbalance']:>10.2f} {100 * r['communication_share']:>7.1f} {r['peak_rss_bytes'] / 2**30:>8.2f}")
print(f"rows: {out}/results.csv; plots: {out}/strong-s*/scaling.png" + (f", {out}/weak/scaling.png" if any(r['kind'] == 'weak' for r in rows) else ""))
PY
