#!/usr/bin/env bash
# Full-scale validation of the cortical microcircuit: 77,169 neurons, 298,880,968 synapses, 0.5 s warm-up
# and 1 s analysed, rates printed side by side with NEST 3.10's full-scale rates. Fails (exit 1) unless
# the synapse total is NEST's exactly and every population's rate is within 10% (or 0.3 Hz) of NEST's.
#
#   bash scripts/validate-microcircuit.sh [--threads N] [--seed N] [--out DIR]
# Needs ~3 GiB of memory and a few minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
threads=$(nproc); seed=55; out=out/validate-microcircuit
while [ $# -gt 0 ]; do
    case "$1" in
        --threads) threads=$2; shift 2 ;;
        --seed) seed=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
cargo build --release --quiet
./target/release/cajal run models/microcircuit.toml --scale 1 --t-presim 500 --t-sim 1000 \
    --seed "$seed" --threads "$threads" --no-spikes --out "$out" > /dev/null
python3 - "$out/summary.json" tests/data/microcircuit_reference.toml <<'PY'
import json, sys, tomllib
s = json.load(open(sys.argv[1]))
ref = tomllib.load(open(sys.argv[2], "rb"))
nest = ref["scale_1_0"]["rates_hz"]
print(f"cajal full-scale microcircuit: {s['neurons']} neurons, {s['synapses']} synapses (NEST: {ref['totals']['scale_1_0'][1]}), "
      f"seed {s['seed']}, {s['threads_per_rank']} threads, {s['t_presim_ms']:.0f} ms warm-up + {s['t_sim_ms']:.0f} ms")
print(f"{'pop':<6} {'cajal Hz':>9} {'NEST Hz':>9} {'diff %':>7}")
failures = []
for p, r in zip(s["populations"], nest):
    ok = abs(p["rate_hz"] - r) <= max(0.1 * r, 0.3)
    failures += [] if ok else [p["name"]]
    print(f"{p['name']:<6} {p['rate_hz']:>9.3f} {r:>9.3f} {100 * (p['rate_hz'] - r) / r:>+7.1f}{'' if ok else '  <- off'}")
if s["synapses"] != ref["totals"]["scale_1_0"][1]:
    failures.append("synapse total")
w = s["wall_s"]
print(f"construct {w['construct']:.1f} s, simulate {w['simulate']:.1f} s (RTF {s['rtf']:.2f}), "
      f"peak RSS {s['peak_rss_bytes'] / 2**30:.2f} GiB, digest {s['spikes_digest']}")
print("FAIL: " + ", ".join(failures) if failures else "PASS: synapse total exact, every rate within 10% (or 0.3 Hz) of NEST's")
sys.exit(1 if failures else 0)
PY
