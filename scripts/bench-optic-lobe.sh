#!/usr/bin/env bash
# Euler steps per second of the full optic lobe (45,669 neurons, 1,513,231 synapses, pretrained flyvis
# parameters, a moving edge): 1 rank x 1 thread, 1 rank x 2 threads, 2 MPI ranks x 1 thread and 2 in-process
# ranks x 1 thread, each repeated; prints medians and checks that every layout recorded the same voltages.
#
#   bash scripts/bench-optic-lobe.sh [--steps N] [--repeat K]
# Defaults: 5000 steps of 20 ms, 3 repeats. Needs Open MPI (scripts/test.sh installs it) for the MPI rows.
set -euo pipefail
cd "$(dirname "$0")/.."
steps=5000; repeat=3
while [ $# -gt 0 ]; do
    case "$1" in
        --steps) steps=$2; shift 2 ;;
        --repeat) repeat=$2; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_mpi_yield_when_idle=1
# A target folder of its own: toggling the feature in target/ would rebuild the binary under other runs.
cargo build --release --quiet --features mpi --target-dir target/mpi
cajal=target/mpi/release/cajal
base=$(mktemp -d)
trap 'rm -rf "$base"' EXIT
common=(run models/optic_lobe.toml --params models/optic_lobe/pretrained_flow_0000_000.json
        --dt-ms 20 --t-presim 0 --t-sim $((steps * 20)) --stimulus edge:45:13:on --record central-voltages)
for i in $(seq 1 "$repeat"); do
    "$cajal" "${common[@]}" --threads 1 --out "$base/t1-$i" > /dev/null
    "$cajal" "${common[@]}" --threads 2 --out "$base/t2-$i" > /dev/null
    if command -v mpirun > /dev/null; then
        mpirun -n 2 --bind-to none "$cajal" "${common[@]}" --threads 1 --out "$base/mpi-$i" > /dev/null
    fi
    "$cajal" "${common[@]}" --ranks 2 --threads 1 --out "$base/inproc-$i" > /dev/null
done
python3 - "$base" "$repeat" <<'PY'
import hashlib, json, os, statistics, sys
base, repeat = sys.argv[1], int(sys.argv[2])
layouts = [("t1", "1 rank x 1 thread"), ("t2", "1 rank x 2 threads"), ("mpi", "2 MPI ranks x 1 thread"),
           ("inproc", "2 in-process ranks x 1 thread")]
hashes = set()
for key, label in layouts:
    dirs = [f"{base}/{key}-{i}" for i in range(1, repeat + 1)]
    if not os.path.exists(f"{dirs[0]}/summary.json"):
        print(f"{label:<32} (skipped: no mpirun)")
        continue
    runs = [json.load(open(f"{d}/summary.json")) for d in dirs]
    hashes.update(hashlib.sha256(open(f"{d}/central_voltages.csv", "rb").read()).hexdigest() for d in dirs)
    rates = [r["steps_per_second"] for r in runs]
    sent = max(p["values_sent_per_step"] for p in runs[0]["per_rank"])
    print(f"{label:<32} {statistics.median(rates):8.0f} steps/s (runs: {', '.join(f'{x:.0f}' for x in rates)})"
          f"  construct {statistics.median(r['wall_s']['construct'] for r in runs):.2f} s"
          f"  values sent per rank per step {sent}")
s = runs[0]
print(f"({s['neurons']} neurons, {s['synapses']} synapses, {s['steps']} steps, medians of {repeat} runs)")
print("identical voltages across layouts:", "yes" if len(hashes) == 1 else f"NO ({len(hashes)} different)")
PY
