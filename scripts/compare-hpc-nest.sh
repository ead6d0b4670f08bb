#!/usr/bin/env bash
# NEST 3.10's hpc_benchmark side by side with cajal's models/hpc_benchmark.toml: same machine, same thread
# count, one after the other, for several seeds (also `bash scripts/compare-nest.sh --hpc ...`).
#
#   bash scripts/compare-hpc-nest.sh [--scale F] [--threads N] [--seeds K] [--t-presim MS] [--t-sim MS]
#                                    [--static] [--weight-sources N]
#
# Defaults: --scale 1 --threads 2 --seeds 3 --t-presim 50 --t-sim 250 (the example's own protocol; at
# scale 1 NEST needs 5-6 GiB and several minutes per seed on 2 cores). --static: the static variant on
# both sides. NEST reads its E->E weights through PyNEST, about 1 µs per synapse: its weight statistics
# come from the synapses of the first N E neurons (--weight-sources, default 900: 8.1 M synapses at any
# scale); cajal's from all of them.
# Prints per seed and as mean ± sd: E and I rates, the relative change of the mean E->E weight (dw/w0),
# construction and simulation wall time and peak RSS (/usr/bin/time -v) with NEST/cajal ratios; checks
# the rates within max(10 %, 3 sd of NEST's seed spread) and dw/w0 within max(10 % of NEST's, 3 sd); draws
# both final weight histograms into one plot (weights_nest_vs_cajal.png in the output folder, which it
# names). NEST_VENV chooses the NEST venv (default .venv-nest, created with nest-simulator 3.10.0, numpy and
# matplotlib on first use).
set -euo pipefail

SCALE=1
THREADS=2
SEEDS=3
T_PRESIM=50
T_SIM=250
STATIC=0
WEIGHT_SOURCES=900
NEST_VERSION=3.10.0

die() { echo "compare-hpc-nest: error: $*" >&2; exit 1; }
usage() { sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; }

while [[ $# -gt 0 ]]; do
    case "$1" in
        --scale) SCALE="${2:?--scale needs a value}"; shift 2 ;;
        --threads) THREADS="${2:?--threads needs a value}"; shift 2 ;;
        --seeds) SEEDS="${2:?--seeds needs a value}"; shift 2 ;;
        --t-presim) T_PRESIM="${2:?--t-presim needs a value}"; shift 2 ;;
        --t-sim) T_SIM="${2:?--t-sim needs a value}"; shift 2 ;;
        --static) STATIC=1; shift ;;
        --weight-sources) WEIGHT_SOURCES="${2:?--weight-sources needs a value}"; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
done

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${NEST_VENV:-$ROOT/.venv-nest}"
source scripts/nest-venv.sh
ensure_nest_venv "$VENV" "$NEST_VERSION"
"$VENV/bin/python" -c "import matplotlib" 2>/dev/null || "$VENV/bin/python" -m pip install --quiet matplotlib \
    || die "pip could not install matplotlib into $VENV"

echo "== building cajal (cargo build --release)"
cargo build --release --quiet || die "cargo build --release failed"
CAJAL="$ROOT/target/release/cajal"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/compare-hpc-nest.XXXXXX")"
TIMER=()
if [[ -x /usr/bin/time ]] && /usr/bin/time -v true >/dev/null 2>&1; then
    TIMER=(/usr/bin/time -v)
fi
# run NAME CMD...: CMD's output in $WORK/NAME.log, its resources in $WORK/NAME.time
run() {
    local name="$1"; shift
    local timer=()
    [[ ${#TIMER[@]} -gt 0 ]] && timer=("${TIMER[@]}" -o "$WORK/$name.time")
    if ! "${timer[@]}" "$@" >"$WORK/$name.log" 2>&1; then
        tail -n 30 "$WORK/$name.log" >&2
        die "$name failed (command: $*)"
    fi
}

nest_static=(); cajal_static=()
if [[ $STATIC == 1 ]]; then nest_static=(--static); cajal_static=(--set plastic=false); fi
echo "== scale $SCALE, $THREADS threads, $T_PRESIM + $T_SIM ms, seeds 1..$SEEDS, static $STATIC (outputs: $WORK)"
for seed in $(seq 1 "$SEEDS"); do
    echo "== seed $seed: NEST $NEST_VERSION"
    run "nest-$seed" "$VENV/bin/python" scripts/nest_hpc_benchmark.py --scale "$SCALE" --threads "$THREADS" \
        --seed "$seed" --t-presim "$T_PRESIM" --t-sim "$T_SIM" --weights end --weight-sources "$WEIGHT_SOURCES" \
        "${nest_static[@]}" --out "$WORK/nest-$seed"
    echo "== seed $seed: cajal"
    run "cajal-$seed" "$CAJAL" run models/hpc_benchmark.toml --scale "$SCALE" --threads "$THREADS" --seed "$seed" \
        --t-presim "$T_PRESIM" --t-sim "$T_SIM" --no-spikes "${cajal_static[@]}" --out "$WORK/cajal-$seed"
done

"$VENV/bin/python" - "$WORK" "$SEEDS" <<'EOF'
import json, re, statistics, sys
from pathlib import Path

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

work, seeds = Path(sys.argv[1]), int(sys.argv[2])
J_E = 45.609600316540956
GiB = float(1 << 30)

def rss(name):
    t = work / f"{name}.time"
    m = t.exists() and re.search(r"Maximum resident set size \(kbytes\): (\d+)", t.read_text())
    return int(m.group(1)) * 1024 if m else None

rows = []
for s in range(1, seeds + 1):
    n = json.loads((work / f"nest-{s}" / "nest_hpc.json").read_text())
    c = json.loads((work / f"cajal-{s}" / "summary.json").read_text())
    rate = {p["name"]: p["rate_hz"] for p in c["populations"]}
    plastic = c.get("plasticity")
    ee = plastic["projections"][0] if plastic else None
    rows.append({
        "nest_E": n["rates"]["E"]["rate_hz"], "nest_I": n["rates"]["I"]["rate_hz"],
        "cajal_E": rate["E"], "cajal_I": rate["I"],
        "nest_dw": n.get("ee_mean_weight_rel_change") or 0.0,
        "cajal_dw": (ee["mean_weight"] / J_E - 1.0) if ee else 0.0,
        "nest_construct": n["wall_s"]["construct"], "cajal_construct": c["wall_s"]["construct"],
        "nest_sim": n["wall_s"]["presim"] + n["wall_s"]["simulate"],
        "cajal_sim": c["wall_s"]["presim"] + c["wall_s"]["simulate"],
        # NEST's VmHWM right after simulating (reading weights through PyNEST afterwards costs more).
        "nest_rss": n.get("peak_rss_bytes") or rss(f"nest-{s}"), "cajal_rss": rss(f"cajal-{s}") or c.get("peak_rss_bytes"),
        "nest_hist": (n.get("ee_weights_end") or {}).get("histogram"), "cajal_hist": ee,
    })

def ms(key):
    v = [r[key] for r in rows]
    return statistics.mean(v), (statistics.stdev(v) if len(v) > 1 else 0.0)

print(f"\n{'':<28} {'NEST 3.10':>22} {'cajal':>22} {'NEST/cajal':>11}")
ok = True
for key, label, unit in [("E", "E rate", "Hz"), ("I", "I rate", "Hz"), ("dw", "E->E dw/w0", ""),
                         ("construct", "construction", "s"), ("sim", "presim + simulate", "s"), ("rss", "peak RSS", "GiB")]:
    (a, sa), (b, sb) = ms(f"nest_{key}"), ms(f"cajal_{key}")
    scale = GiB if key == "rss" else 1.0
    ratio = f"{a / b:.2f}x" if key in ("construct", "sim", "rss") and b else ""
    print(f"{label + (' (' + unit + ')' if unit else ''):<28} {a / scale:>12.4g} ± {sa / scale:<8.2g} {b / scale:>12.4g} ± {sb / scale:<8.2g} {ratio:>11}")
    if key in ("E", "I"):
        bound = max(0.10 * a, 3 * sa)
        good = abs(b - a) <= bound
        ok &= good
        print(f"{'':<28} |cajal - NEST| = {abs(b - a):.4g} Hz, bound max(10 %, 3 sd) = {bound:.4g}: {'ok' if good else 'OUTSIDE'}")
    if key == "dw":
        bound = max(0.10 * abs(a), 3 * sa)
        good = abs(b - a) <= bound
        ok &= good
        print(f"{'':<28} |cajal - NEST| = {abs(b - a):.4g}, bound max(10 % of NEST's, 3 sd) = {bound:.4g}: {'ok' if good else 'OUTSIDE'}")
print("\nper seed:", json.dumps([{k: v for k, v in r.items() if not k.endswith("hist")} for r in rows], indent=1))

fig, ax = plt.subplots(figsize=(8, 4.5))
for k, r in enumerate(rows):
    if r["nest_hist"]:
        e, c = r["nest_hist"]["bin_edges_pA"], r["nest_hist"]["counts"]
        ax.stairs([x / max(sum(c), 1) for x in c], e, color="tab:blue", alpha=0.7, label="NEST 3.10" if k == 0 else None)
    if r["cajal_hist"]:
        e, c = r["cajal_hist"]["histogram_edges"], r["cajal_hist"]["histogram_counts"]
        ax.stairs([x / max(sum(c), 1) for x in c], e, color="tab:orange", alpha=0.7, label="cajal" if k == 0 else None)
ax.set_xlabel("E->E weight at the end (pA)"); ax.set_ylabel("fraction of synapses"); ax.legend()
ax.set_title(f"hpc_benchmark: final E->E weights, {seeds} seeds each")
fig.tight_layout(); fig.savefig(work / "weights_nest_vs_cajal.png", dpi=120)
print(f"\nhistograms: {work / 'weights_nest_vs_cajal.png'}")
print("all checks within bounds" if ok else "SOME CHECKS OUTSIDE BOUNDS")
EOF
