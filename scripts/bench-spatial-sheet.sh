#!/usr/bin/env bash
# The spatial sheet at a given scale (default 1.0: 1,000,000 neurons, ~500 synapses each) on 2 in-process
# ranks x 1 thread, once per balancer: construction time, peak memory, RTF, and remote spikes per window.
#
#   bash scripts/bench-spatial-sheet.sh [--scale F] [--t-sim MS] [--balancers "round-robin cost-blocks"]
set -euo pipefail
cd "$(dirname "$0")/.."
scale=1; tsim=1000; balancers="round-robin cost-blocks"
while [ $# -gt 0 ]; do
    case "$1" in
        --scale) scale=$2; shift 2 ;;
        --t-sim) tsim=$2; shift 2 ;;
        --balancers) balancers=$2; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
cargo build --release --quiet
base=$(mktemp -d)
trap 'rm -rf "$base"' EXIT
for b in $balancers; do
    /usr/bin/time -v target/release/cajal run models/spatial_sheet.toml --scale "$scale" --t-presim 100 \
        --t-sim "$tsim" --no-spikes --ranks 2 --threads 1 --balancer "$b" --out "$base/$b" \
        > "$base/$b.log" 2> "$base/$b.time"
done
python3 - "$base" $balancers <<'PY'
import json, re, sys
base, balancers = sys.argv[1], sys.argv[2:]
for b in balancers:
    s = json.load(open(f"{base}/{b}/summary.json"))
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", open(f"{base}/{b}.time").read()).group(1))
    windows = round(s["t_sim_ms"] / s["dt_ms"]) / s["window_steps"]  # the report covers the simulate phase
    remote = [r["remote_spikes_sent"] for r in s["per_rank"]]
    rates = ", ".join(f"{p['name']} {p['rate_hz']:.2f} Hz" for p in s["populations"])
    print(f"{b:<12} neurons {s['neurons']}  synapses {s['synapses']}  construct {s['wall_s']['construct']:.1f} s  "
          f"RTF {s['rtf']:.2f}  peak RSS {rss / 2**20:.2f} GiB (process, 2 ranks)  "
          f"remote spikes per rank per window {', '.join(f'{r / windows:.0f}' for r in remote)}  ({rates})")
PY
