#!/usr/bin/env bash
# Side-by-side benchmark of cajal and NEST 3.10 on the Potjans-Diesmann microcircuit
# (models/microcircuit.toml), same machine, same thread count, one after the other.
#
#   bash scripts/compare-nest.sh [--scale F] [--threads N] [--t-presim MS] [--t-sim MS] [--seed N] [--quick]
#
# Defaults: --scale 0.25 --threads 2 --t-presim 500 --t-sim 10000 --seed 55 (the reference protocol: 10 s
# of model time after the warm-up; NEST takes about 2 minutes of it at scale 0.25 on 2 cores).
# --quick: --t-presim 100 --t-sim 1000.
# On first use it creates the Python venv .venv-nest (in the repo root) and installs nest-simulator 3.10.0
# and numpy into it; later runs reuse it. It then builds cajal (cargo build --release), runs NEST through
# scripts/nest_microcircuit.py and cajal through `cajal run`, and prints construction and simulation
# wall time, real-time factor, peak RSS (from /usr/bin/time -v when available, else each side's own
# report), neuron and synapse counts, per-population rates, and NEST/cajal ratios.
# Set PYTHON to choose the interpreter for the venv (Python >= 3.11, for tomllib).
# --hpc [options]: NEST's hpc_benchmark instead (scripts/compare-hpc-nest.sh, which takes the options).
set -euo pipefail
if [[ "${1:-}" == "--hpc" ]]; then
    shift
    exec bash "$(dirname "${BASH_SOURCE[0]}")/compare-hpc-nest.sh" "$@"
fi

SCALE=0.25
THREADS=2
T_PRESIM=500
T_SIM=10000
SEED=55
NEST_VERSION=3.10.0

die() { echo "compare-nest: error: $*" >&2; exit 1; }
usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; }

while [[ $# -gt 0 ]]; do
    case "$1" in
        --scale) SCALE="${2:?--scale needs a value}"; shift 2 ;;
        --threads) THREADS="${2:?--threads needs a value}"; shift 2 ;;
        --t-presim) T_PRESIM="${2:?--t-presim needs a value}"; shift 2 ;;
        --t-sim) T_SIM="${2:?--t-sim needs a value}"; shift 2 ;;
        --seed) SEED="${2:?--seed needs a value}"; shift 2 ;;
        --quick) T_PRESIM=100; T_SIM=1000; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
done

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv-nest"
MODEL=models/microcircuit.toml

# ---- 1. Python venv with NEST (idempotent) ----
source scripts/nest-venv.sh
ensure_nest_venv "$VENV" "$NEST_VERSION"

# ---- 2. Build cajal ----
echo "== building cajal (cargo build --release)"
cargo build --release --quiet || die "cargo build --release failed"
CAJAL="$ROOT/target/release/cajal"
[[ -x "$CAJAL" ]] || die "$CAJAL is missing after the build"

# ---- 3. Run both, each under /usr/bin/time -v when it is there ----
WORK="$(mktemp -d "${TMPDIR:-/tmp}/compare-nest.XXXXXX")"
TIMER=()
if [[ -x /usr/bin/time ]] && /usr/bin/time -v true >/dev/null 2>&1; then
    TIMER=(/usr/bin/time -v)
else
    echo "note: /usr/bin/time -v not available; peak RSS comes from each simulator's own report"
fi

# busy_cores: how many cores other processes keep busy, sampled from /proc/stat over half a second
busy_cores() {
    local a b
    a="$(head -n 1 /proc/stat)"; sleep 0.5; b="$(head -n 1 /proc/stat)"
    awk -v a="$a" -v b="$b" -v n="$(nproc)" 'BEGIN {
        split(a, x); split(b, y); total = 0; idle = 0
        for (i = 2; i <= 9; i++) total += y[i] - x[i]
        idle = (y[5] - x[5]) + (y[6] - x[6])
        printf "%.1f", (total > 0 ? n * (total - idle) / total : 0) }'
}

# run NAME CMD...: runs CMD with its output in $WORK/NAME.log (resources in $WORK/NAME.time)
run() {
    local name="$1"; shift
    local busy
    busy="$(busy_cores 2>/dev/null || echo 0)"
    if awk -v b="$busy" 'BEGIN { exit !(b >= 0.3) }'; then
        echo "warning: about $busy of $(nproc) cores are busy with other processes; $name timings will suffer"
    fi
    local timer=()
    [[ ${#TIMER[@]} -gt 0 ]] && timer=("${TIMER[@]}" -o "$WORK/$name.time")
    if ! "${timer[@]}" "$@" >"$WORK/$name.log" 2>&1; then
        echo "---- last lines of $WORK/$name.log ----" >&2
        tail -n 30 "$WORK/$name.log" >&2
        die "$name run failed (command: $*)"
    fi
}

echo "== scale $SCALE, $THREADS threads, presim $T_PRESIM ms, sim $T_SIM ms, seed $SEED (outputs: $WORK)"
echo "== running NEST $NEST_VERSION"
run nest "$VENV/bin/python" scripts/nest_microcircuit.py --model "$MODEL" --scale "$SCALE" \
    --threads "$THREADS" --t-presim "$T_PRESIM" --t-sim "$T_SIM" --seed "$SEED" --out "$WORK/nest.json"
echo "== running cajal"
run cajal "$CAJAL" run "$MODEL" --scale "$SCALE" --threads "$THREADS" --t-presim "$T_PRESIM" \
    --t-sim "$T_SIM" --seed "$SEED" --no-spikes --out "$WORK/cajal"
[[ -f "$WORK/cajal/summary.json" ]] || die "cajal wrote no $WORK/cajal/summary.json"

# ---- 4. Side-by-side table ----
"$VENV/bin/python" - "$WORK" <<'EOF'
import json, re, sys
from pathlib import Path

work = Path(sys.argv[1])
nest = json.loads((work / "nest.json").read_text())
cajal = json.loads((work / "cajal" / "summary.json").read_text())

def peak_rss(name, summary):
    """Peak RSS in bytes and where it came from: /usr/bin/time -v, else the simulator's own report."""
    t = work / f"{name}.time"
    if t.exists():
        m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", t.read_text())
        if m:
            return int(m.group(1)) * 1024, "time -v"
    return summary.get("peak_rss_bytes"), "self"

GiB = float(1 << 30)
rss_n, src_n = peak_rss("nest", nest)
rss_c, src_c = peak_rss("cajal", cajal)

def ratio(a, b):
    return f"{a / b:.2f}x" if a is not None and b else "n/a"

def fmt(x, spec):
    return "n/a" if x is None else format(x, spec)

rows = [
    ("construction (s)", nest["wall_s"]["construct"], cajal["wall_s"]["construct"], ".3f", True),
    ("presim (s)", nest["wall_s"]["presim"], cajal["wall_s"]["presim"], ".3f", True),
    ("simulate (s)", nest["wall_s"]["simulate"], cajal["wall_s"]["simulate"], ".3f", True),
    ("RTF", nest["rtf"], cajal["rtf"], ".3f", True),
    (f"peak RSS (GiB) [{src_n}/{src_c}]", rss_n and rss_n / GiB, rss_c and rss_c / GiB, ".3f", True),
    ("neurons", nest["neurons"], cajal["neurons"], "d", False),
    ("synapses", nest["synapses"], cajal["synapses"], "d", False),
]
print()
print(f"{'':<34} {'NEST ' + nest['version']:>14} {'cajal':>14} {'NEST/cajal':>11}")
for label, a, b, spec, show_ratio in rows:
    r = ratio(a, b) if show_ratio else ("same" if a == b else f"diff {a - b:+d}")
    print(f"{label:<34} {fmt(a, spec):>14} {fmt(b, spec):>14} {r:>11}")
print()
print(f"{'rate (Hz)':<34} {'NEST':>14} {'cajal':>14} {'cajal-NEST':>11}")
rates_c = {p["name"]: p.get("rate_hz") for p in cajal["populations"]}
for p in nest["populations"]:
    a, b = p.get("rate_hz"), rates_c.get(p["name"])
    d = f"{b - a:+.3f}" if a is not None and b is not None else "n/a"
    print(f"{p['name']:<34} {fmt(a, '.3f'):>14} {fmt(b, '.3f'):>14} {d:>11}")
print()
print("construction: NEST = Create + Connect + Prepare; RTF = simulate wall time / simulated time.")
if nest["neurons"] != cajal["neurons"] or nest["synapses"] != cajal["synapses"]:
    print("WARNING: the two networks differ in size; the comparison is not like for like.")
EOF
