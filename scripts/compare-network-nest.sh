#!/usr/bin/env bash
# Side by side with NEST 3.10 on a `model = "network"` file (e.g. models/brunel.toml): for each of N seeds
# the same network in NEST (scripts/nest_network.py) and in cajal, one after the other on the same cores;
# then rate, CV of ISIs and synchrony per population from both sets of spike files (`cajal spike-stats`),
# each within max(10 %, 3 sd of NEST's seed spread) or not, and simulate time and peak memory as ratios.
#
#   bash scripts/compare-network-nest.sh [MODEL] [--seeds N] [--threads T] [--scale F]
#
# Defaults: models/brunel.toml, 3 seeds, 2 threads, the file's scale. Uses the venv .venv-nest (created
# on first use with nest-simulator 3.10.0, see scripts/nest-venv.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=models/brunel.toml
SEEDS=3
THREADS=2
SCALE=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --seeds) SEEDS=$2; shift 2 ;;
        --threads) THREADS=$2; shift 2 ;;
        --scale) SCALE=(--scale "$2"); shift 2 ;;
        -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "unknown option $1" >&2; exit 2 ;;
        *) MODEL=$1; shift ;;
    esac
done
source scripts/nest-venv.sh
VENV=${NEST_VENV:-.venv-nest}
ensure_nest_venv "$VENV" 3.10.0
cargo build --release --quiet
base=$(mktemp -d)
trap 'rm -rf "$base"' EXIT
for s in $(seq 1 "$SEEDS"); do
    "$VENV/bin/python" scripts/nest_network.py "$MODEL" --seed "$s" --threads "$THREADS" "${SCALE[@]}" \
        --out "$base/nest/seed$s" > /dev/null
    ./target/release/cajal run "$MODEL" --seed "$s" --threads "$THREADS" "${SCALE[@]}" \
        --out "$base/cajal/seed$s" > /dev/null
done
./target/release/cajal spike-stats "$base"/nest/seed* --json "$base/nest.json" > /dev/null
./target/release/cajal spike-stats "$base"/cajal/seed* --json "$base/cajal.json" > /dev/null
python3 - "$base" "$SEEDS" "$MODEL" <<'PY'
import json, statistics, sys
base, n, model = sys.argv[1], int(sys.argv[2]), sys.argv[3]
nest, cajal = (json.load(open(f"{base}/{k}.json")) for k in ("nest", "cajal"))
print(f"{model}: {n} seeds each, NEST 3.10.0 vs cajal; bound = max(10 %, 3 sd of NEST's seeds)")
print(f"{'pop':<5} {'statistic':<10} {'NEST mean':>10} {'cajal mean':>11} {'bound':>8}  within")
ok = True
for pn, pc in zip(nest["populations"], cajal["populations"]):
    for stat in ("rate_hz", "cv_isi", "synchrony"):
        a, b = pn[stat], pc[stat]
        if a["mean"] is None or b["mean"] is None:
            print(f"{pn['name']:<5} {stat:<10} {'n/a':>10}")
            continue
        bound = max(0.1 * abs(a["mean"]), 3 * (a["sd"] or 0.0))
        within = abs(a["mean"] - b["mean"]) <= bound
        ok &= within
        print(f"{pn['name']:<5} {stat:<10} {a['mean']:>10.3f} {b['mean']:>11.3f} {bound:>8.3f}  {'yes' if within else 'NO'}")
def runs(kind):
    return [json.load(open(f"{base}/{kind}/seed{s}/summary.json")) for s in range(1, n + 1)]
med = lambda rs, f: statistics.median(f(r) for r in rs)
for label, f in (("construct (s)", lambda r: r["wall_s"]["construct"]), ("simulate (s)", lambda r: r["wall_s"]["simulate"]),
                 ("peak RSS (GiB)", lambda r: r["peak_rss_bytes"] / 2**30)):
    a, b = med(runs("nest"), f), med(runs("cajal"), f)
    print(f"{label:<16} NEST {a:9.3f}  cajal {b:9.3f}  NEST/cajal {a / b:6.2f}x")
print("all statistics within their bounds" if ok else "SOME STATISTICS OUTSIDE THEIR BOUNDS")
PY
