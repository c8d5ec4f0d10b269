#!/usr/bin/env bash
# Issue 11's benchmark: CPU images/s and text-query ms per model family, and fp16 / int8 against
# fp32 (speed ratio and cosine to fp32 on the same photos), with Magpie's own towers, in one run.
#
#   bench/families.sh                     # all three real-shape models
#   BENCH_FAMILIES="siglip2-b16-224" bench/families.sh
#   BENCH_TABLE_ONLY=1 bench/families.sh  # only the table, from the last run's JSON
#
# The models are random-weight graphs of the real shapes (bench/make_family_models.py: SigLIP2
# ViT-B/16 at 224 and 384, OpenAI CLIP ViT-B/32; ~6.3 GB, never committed); random weights cost
# what trained ones cost. Writes bench/out/families-<model>.json and bench/out/families.md.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/bench/out
MODELS=${BENCH_MODELS:-$ROOT/.magpie/testdata/bench-models}
PHOTOS=${BENCH_PHOTOS:-$ROOT/../shared/data/photos}
FAMILIES=${BENCH_FAMILIES:-clip-vit-b32 siglip2-b16-224 siglip2-b16-384}
mkdir -p "$OUT"
if [ "${BENCH_TABLE_ONLY:-0}" != 1 ]; then
nice -n 10 .venv/bin/python bench/make_family_models.py --out "$MODELS" --only $FAMILIES
nice -n 10 cargo build --release -p magpie-bench --bin familybench
export MAGPIE_ORT_LIB=${MAGPIE_ORT_LIB:-$ROOT/.magpie/ort}
for name in $FAMILIES; do
    echo "== $name ($(date +%T))" >&2
    target/release/familybench --model "$MODELS/$name" --photos "$PHOTOS" \
        --images "${BENCH_IMAGES:-16}" --rounds "${BENCH_ROUNDS:-3}" --batch 8 \
        >"$OUT/families-$name.json"
done
fi
.venv/bin/python - "$OUT" $FAMILIES <<'PY'
import json, sys
out, names = sys.argv[1], sys.argv[2:]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
import os
rows = [f"Machine: {cpu}, {os.cpu_count()} cores, CPU execution provider.", "",
        "| model | variant | images/s b1 | images/s b8 | × fp32 (b8) | text ms (1 query) | text ms (8-prompt ensemble) | image cos to fp32 mean / min | text cos to fp32 mean / min |",
        "|---|---|---|---|---|---|---|---|---|"]
for name in names:
    report = json.load(open(f"{out}/families-{name}.json"))
    base = next((v for v in report["variants"] if v.get("variant") == "fp32"), None)
    for v in report["variants"]:
        if "error" in v:
            rows.append(f"| {name} | {v['variant']} | error: {v['error']} |||||||")
            continue
        b8 = v["images_per_second_batch_8"]
        ratio = b8 / base["images_per_second_batch_8"] if base else float("nan")
        def cos(key):
            c = v.get(key)
            return "reference" if v["variant"] == "fp32" else f"{c['mean']:.6f} / {c['min']:.6f}" if c else "no fp32 run"
        rows.append(f"| {name} ({v['image_size']} px) | {v['variant']} | {v['images_per_second_batch_1']:.2f} | {b8:.2f} | {ratio:.2f} | "
                    f"{v['text_ms_single_p50']:.1f} | {v['text_ms_ensemble_p50']:.1f} | "
                    f"{cos('image_cosine_to_fp32')} | {cos('text_cosine_to_fp32')} |")
open(f"{out}/families.md", "w").write("\n".join(rows) + "\n")
print("\n".join(rows))
PY
