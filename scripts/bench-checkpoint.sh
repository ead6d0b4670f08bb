#!/usr/bin/env bash
# Checkpoint size, compression ratio and write/read throughput for the microcircuit's state, to the local
# disk and to a local S3 server (moto, installed into .venv-s3 on first use), same machine, one run each.
# Write = encode + compress + store every shard (the manifest's write_seconds); read = `cajal checkpoints
# verify` (fetch, checksum, decompress and decode every shard). MB/s are of uncompressed state.
#
#   bash scripts/bench-checkpoint.sh [--scale F] [--threads N] [--level L]
# Defaults: full scale, all cores, zstd level 1.
set -euo pipefail
cd "$(dirname "$0")/.."
scale=1; threads=$(nproc); level=1
while [ $# -gt 0 ]; do
    case "$1" in
        --scale) scale=$2; shift 2 ;;
        --threads) threads=$2; shift 2 ;;
        --level) level=$2; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
cargo build --release --quiet
base=$(mktemp -d)
source scripts/s3-server.sh
start_s3_server bench
trap 'kill "$S3_SERVER_PID" 2>/dev/null || true; rm -rf "$base"' EXIT

for target in "local:$base/ck" "s3:s3://bench/ck"; do
    kind=${target%%:*}; url=${target#*:}
    ./target/release/cajal run models/microcircuit.toml --scale "$scale" --threads "$threads" --t-presim 0 \
        --t-sim 300 --no-spikes --out "$base/out-$kind" --checkpoint-to "$url" --stop-after 100 --zstd-level "$level" > /dev/null
    ./target/release/cajal checkpoints inspect "$url" > "$base/manifest-$kind.json"
    start=$(date +%s.%N)
    ./target/release/cajal checkpoints verify "$url" > /dev/null
    end=$(date +%s.%N)
    python3 - "$base/manifest-$kind.json" "$kind" "$start" "$end" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
raw = sum(s["raw_bytes"] for s in m["shards"]); stored = sum(s["bytes"] for s in m["shards"])
read_s = float(sys.argv[4]) - float(sys.argv[3])
print(f"{sys.argv[2]:<6} {m['ranks']} shard(s), state {raw / 1e6:7.1f} MB -> {stored / 1e6:6.1f} MB stored "
      f"(ratio {raw / stored:4.1f}, zstd {m['zstd_level']}): write {raw / 1e6 / m['write_seconds']:7.0f} MB/s "
      f"({m['write_seconds']:.3f} s), read+verify {raw / 1e6 / read_s:6.0f} MB/s ({read_s:.3f} s, incl. process start)")
PY
done
