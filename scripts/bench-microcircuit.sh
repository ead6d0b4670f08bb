#!/usr/bin/env bash
# Performance run of the cortical microcircuit (the reference protocol: no spike recording, a 0.5 s warm-up,
# then 10 s of model time). Repeats the run and prints each run and the medians of the real-time factor
# (RTF = wall time of the simulate phase / model time), construction time and peak RSS.
#
#   bash scripts/bench-microcircuit.sh [--scale F] [--threads N] [--t-presim MS] [--t-sim MS] [--repeat N]
#                                      [--quick]
# Defaults: full scale, all cores, 500 ms warm-up, 10000 ms simulated, 3 repeats (about 3 minutes on 2
# cores). --quick: 100 ms warm-up + 1000 ms, for a first look (not the protocol).
set -euo pipefail
cd "$(dirname "$0")/.."
scale=1; threads=$(nproc); presim=500; tsim=10000; repeat=3
while [ $# -gt 0 ]; do
    case "$1" in
        --scale) scale=$2; shift 2 ;;
        --threads) threads=$2; shift 2 ;;
        --t-presim) presim=$2; shift 2 ;;
        --t-sim) tsim=$2; shift 2 ;;
        --repeat) repeat=$2; shift 2 ;;
        --quick) presim=100; tsim=1000; shift ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
cargo build --release --quiet
base=$(mktemp -d)
trap 'rm -rf "$base"' EXIT
for i in $(seq 1 "$repeat"); do
    ./target/release/cajal run models/microcircuit.toml --scale "$scale" --threads "$threads" \
        --t-presim "$presim" --t-sim "$tsim" --no-spikes --out "$base/run$i" > /dev/null
done
python3 - "$base" "$repeat" <<'PY'
import json, statistics, sys
runs = [json.load(open(f"{sys.argv[1]}/run{i}/summary.json")) for i in range(1, int(sys.argv[2]) + 1)]
s = runs[0]
print(f"microcircuit: {s['neurons']} neurons, {s['synapses']} synapses, {s['threads_per_rank']} threads, "
      f"{s['t_sim_ms']:.0f} ms simulated after {s['t_presim_ms']:.0f} ms warm-up, {s['bytes_per_synapse']:.2f} B/synapse in tables")
for i, r in enumerate(runs, 1):
    print(f"run {i}: RTF {r['rtf']:.2f}  construct {r['wall_s']['construct']:.2f} s  peak RSS {r['peak_rss_bytes'] / 2**30:.2f} GiB")
med = lambda k: statistics.median(k(r) for r in runs)
print(f"median: RTF {med(lambda r: r['rtf']):.2f}  construct {med(lambda r: r['wall_s']['construct']):.2f} s  "
      f"peak RSS {med(lambda r: r['peak_rss_bytes']) / 2**30:.2f} GiB")
PY
