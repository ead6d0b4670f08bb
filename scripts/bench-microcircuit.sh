#!/usr/bin/env bash
# Performance run of the cortical microcircuit (the reference protocol: no spike recording, a 0.5 s warm-up,
# then 10 s of model time). Repeats the run and prints each run and the medians of the real-time factor
# (RTF = wall time of the simulate phase / model time), construction time and peak RSS.
#
#   bash scripts/bench-microcircuit.sh [--scale F] [--threads N] [--t-presim MS] [--t-sim MS] [--repeat N]
#                                      [--quick] [--compare OLD_BINARY]
# Defaults: full scale, all cores, 500 ms warm-up, 10000 ms simulated, 3 repeats (about 3 minutes on 2
# cores). --quick: 100 ms warm-up + 1000 ms, for a first look (not the protocol).
# --compare OLD_BINARY: before/after a change: runs OLD_BINARY and this build alternately, --repeat times
# each (use 5 or more), and prints both medians and their ratio (new / old; the machine's noise hits both).
set -euo pipefail
cd "$(dirname "$0")/.."
scale=1; threads=$(nproc); presim=500; tsim=10000; repeat=3; old=""
while [ $# -gt 0 ]; do
    case "$1" in
        --scale) scale=$2; shift 2 ;;
        --threads) threads=$2; shift 2 ;;
        --t-presim) presim=$2; shift 2 ;;
        --t-sim) tsim=$2; shift 2 ;;
        --repeat) repeat=$2; shift 2 ;;
        --quick) presim=100; tsim=1000; shift ;;
        --compare) old=$2; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
cargo build --release --quiet
base=$(mktemp -d)
trap 'rm -rf "$base"' EXIT
run() {
    "$1" run models/microcircuit.toml --scale "$scale" --threads "$threads" \
        --t-presim "$presim" --t-sim "$tsim" --no-spikes --out "$2" > /dev/null
}
if [ -n "$old" ]; then
    for i in $(seq 1 "$repeat"); do
        run "$old" "$base/old$i"
        run ./target/release/cajal "$base/new$i"
    done
    python3 - "$base" "$repeat" <<'PY'
import json, statistics, sys
base, n = sys.argv[1], int(sys.argv[2])
load = lambda kind: [json.load(open(f"{base}/{kind}{i}/summary.json")) for i in range(1, n + 1)]
old, new = load("old"), load("new")
assert [r["spikes_digest"] for r in old] == [r["spikes_digest"] for r in new], "the builds' spikes differ"
for i, (a, b) in enumerate(zip(old, new), 1):
    print(f"pair {i}: RTF old {a['rtf']:.3f}  new {b['rtf']:.3f}")
mo, mn = statistics.median(r["rtf"] for r in old), statistics.median(r["rtf"] for r in new)
print(f"median RTF: old {mo:.3f}  new {mn:.3f}  new/old {mn / mo:.3f}  (same spikes_digest: {new[0]['spikes_digest']})")
PY
    exit 0
fi
for i in $(seq 1 "$repeat"); do
    run ./target/release/cajal "$base/run$i"
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
