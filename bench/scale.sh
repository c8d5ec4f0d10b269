#!/usr/bin/env bash
# Past one machine (issue 15), side by side in one run on this machine:
#   1. the same photos embedded by plain `magpie index`, by `magpie embed-shard` run shard after
#      shard on this host, and by `magpie cluster submit` through the Ray cluster of
#      scripts/services/ray (3 shards): the overhead of the distributed path;
#   2. a library padded to 100 k random unit vectors, loaded into Milvus (scripts/services/milvus)
#      through Magpie's client and fields: load rate, and vector-query p50/p99 against the local
#      library's HNSW on the same vectors (`querybench milvus`).
# Needs the services running (scripts/services/milvus start; scripts/services/ray start) and the
# built binaries (BENCH_BIN, default target/debug: our crates at opt-level 1, every dependency —
# ONNX Runtime glue, decoders, usearch, tantivy — at 2; see Cargo.toml).
#   bench/scale.sh                # results: bench/out/scale-*.json, a summary on stdout
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BIN=${BENCH_BIN:-$ROOT/target/debug}
OUT=$ROOT/bench/out
WORK=${BENCH_WORK:-$OUT/work}/scale
PY=$ROOT/.venv/bin/python
MODEL=$ROOT/.magpie/testdata/models/vit-b32
SIZE=${BENCH_SCALE_SIZE:-100000}
SHARDS=3
mkdir -p "$OUT" "$WORK"
export MAGPIE_ORT_LIB=$ROOT/.magpie/ort MAGPIE_LOG=${MAGPIE_LOG:-warn}
source .magpie/services/milvus.env
RAY=$(sed -n 's/^RAY_ADDRESS=//p' .magpie/services/ray.env)

if [ ! -f "$MODEL/onnx/vision_model.onnx" ] || [ "$(stat -c %s "$MODEL/onnx/vision_model.onnx")" -lt 100000000 ]; then
    echo "generating the ViT-B/32-shaped random-weight model" >&2
    "$PY" scripts/testmodels/make_test_models.py --out .magpie/testdata/models --full --only vit-b32
fi

# The photos: the real camera photos and the COCO sample of ../shared.
photos=$WORK/photos
rm -rf "$photos" && mkdir -p "$photos"
cp ../shared/data/photos/*.jpg "$photos"/ 2>/dev/null || true
cp ../shared/data/coco-mini/val2017/*.jpg "$photos"/
count=$(ls "$photos" | wc -l)
seconds() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", b - a }'; }

echo "== $count photos: magpie index" >&2
rm -rf "$WORK/lib"
start=$(date +%s.%N)
"$BIN/magpie" index --library "$WORK/lib" --model "$MODEL" "$photos" >/dev/null 2>"$WORK/index.log"
index_s=$(seconds "$start")

echo "== embed-shard, $SHARDS shards one after the other on this host" >&2
rm -rf "$WORK/shards-local"
start=$(date +%s.%N)
for ((k = 0; k < SHARDS; k++)); do
    "$BIN/magpie" embed-shard --shard "$k/$SHARDS" --out "$WORK/shards-local" --model "$MODEL" "$photos" >/dev/null 2>>"$WORK/shards-local.log"
done
local_s=$(seconds "$start")

echo "== magpie cluster submit, $SHARDS shards through Ray at $RAY" >&2
rm -rf "$WORK/shards-ray"
start=$(date +%s.%N)
"$BIN/magpie" cluster submit --ray "$RAY" --shards "$SHARDS" --run-id "bench-$(date +%s)" -- \
    "$photos" --out "$WORK/shards-ray" --model "$MODEL" 2>"$WORK/ray.log"
ray_s=$(seconds "$start")
tail -1 "$WORK/ray.log" >&2

"$PY" - "$count" "$index_s" "$local_s" "$ray_s" >"$OUT/scale-shards.json" <<'EOF'
import json, sys
n, index_s, local_s, ray_s = int(sys.argv[1]), *map(float, sys.argv[2:])
print(json.dumps({
    "bench": "shards", "photos": n, "shards": 3,
    "index_seconds": index_s, "index_images_per_second": n / index_s,
    "embed_shard_sequential_seconds": local_s, "embed_shard_images_per_second": n / local_s,
    "ray_seconds": ray_s, "ray_images_per_second": n / ray_s,
    "ray_over_index_time": ray_s / index_s, "shards_over_index_time": local_s / index_s,
}, indent=1))
EOF

echo "== $SIZE padded vectors: local library, then Milvus at $MAGPIE_MILVUS" >&2
if [ ! -f "$WORK/pad/bench-data.json" ]; then
    rm -rf "$WORK/pad"
    nice -n 10 "$BIN/querybench" build --library "$WORK/pad" --model "$MODEL" --sizes "$SIZE" >"$OUT/scale-pad-build.json"
fi
"$BIN/querybench" milvus --library "$WORK/pad" --milvus "$MAGPIE_MILVUS" --queries 200 --k 10 >"$OUT/scale-milvus.json"

{
    echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, binaries $BIN"
    cat "$OUT/scale-shards.json" "$OUT/scale-milvus.json"
}
