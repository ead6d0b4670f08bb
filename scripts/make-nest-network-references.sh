#!/usr/bin/env bash
# Makes the NEST statistics the suite compares Brunel and COBA against (tests/network_statistics.rs):
# models/brunel.toml at scale 0.2 and models/coba.toml at scale 0.5, 100 ms warm-up + 400 ms analysed,
# seeds 1..3, each run in NEST 3.10.0 (scripts/nest_network.py), summarised by `cajal spike-stats` into
# tests/data/nest_networks/<model>_s<scale>.json (per population: rate, CV of ISIs, synchrony; mean and
# sd over the seeds), with the provenance in tests/data/nest_networks/README.md. About 1 minute on 2 cores.
#
#   NEST_VENV=/path/to/venv bash scripts/make-nest-network-references.sh   (SKIP_BUILD=1: use target/release/cajal as it is)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/nest-venv.sh
VENV=${NEST_VENV:-.venv-nest}
ensure_nest_venv "$VENV" 3.10.0
[[ ${SKIP_BUILD:-0} == 1 ]] || cargo build --release --quiet
OUT=tests/data/nest_networks
mkdir -p "$OUT"
base=$(mktemp -d)
trap 'rm -rf "$base"' EXIT
for spec in brunel:0.2 coba:0.5; do
    model=${spec%%:*}
    scale=${spec##*:}
    for s in 1 2 3; do
        "$VENV/bin/python" scripts/nest_network.py "models/$model.toml" --seed "$s" --threads 2 --scale "$scale" \
            --t-presim 100 --t-sim 400 --out "$base/$model/seed$s" > /dev/null
    done
    ./target/release/cajal spike-stats "$base/$model"/seed* --json "$OUT/${model}_s$scale.json" > /dev/null
done
cat > "$OUT/README.md" <<MD
# NEST statistics of the benchmark networks

Made by \`bash scripts/make-nest-network-references.sh\` on $(date -u +%Y-%m-%d) with NEST
$("$VENV/bin/python" -c 'import nest; print(nest.__version__)' 2>/dev/null | tail -1) (pip \`nest-simulator==3.10.0\`,
2 threads): models/brunel.toml at scale 0.2 and models/coba.toml at scale 0.5, 100 ms warm-up and 400 ms
analysed, seeds 1, 2 and 3, built by scripts/nest_network.py and summarised by \`cajal spike-stats\`
(rate, CV of inter-spike intervals and synchrony per population: mean and sd over the seeds).
tests/network_statistics.rs runs the same networks in cajal and checks each statistic within
max(10 %, 3 sd of NEST's seeds). Numbers only; NEST is GPL, none of its code is here.
MD
echo "wrote $OUT"
