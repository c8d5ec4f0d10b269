#!/usr/bin/env bash
# Issue 12's benchmark: Magpie's OCR (its defaults, and RapidOCR's settings for parity) against
# RapidOCR (Python, same PP-OCRv4 models, its defaults) and Tesseract (Debian's tesseract-ocr), on the generated test set with ground truth
# (synthetic text images and real Chromium screenshots, scripts/testocr) and on real photos
# (speed, and the cost of a text-free photo), in one run on this machine.
#
#   bench/ocr.sh                 # the ci set (scripts/testocr/make ci), 3 rounds
#   BENCH_OCR_SET=full bench/ocr.sh
#
# Writes bench/out/ocr-*.json and bench/out/ocr-results.{json,md}. Each engine runs alone, one
# after the other, on 2 threads (the machine's cores).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/bench/out
SET=${BENCH_OCR_SET:-ci}
ROUNDS=${BENCH_ROUNDS:-3}
THREADS=${BENCH_THREADS:-$(nproc)}
PHOTOS=${BENCH_PHOTOS:-$ROOT/../shared/data/photos}
PY=$ROOT/.venv/bin/python
export MAGPIE_TESTDATA=${MAGPIE_TESTDATA:-$ROOT/.magpie/testdata}
export MAGPIE_ORT_LIB=${MAGPIE_ORT_LIB:-$ROOT/.magpie/ort}
mkdir -p "$OUT"
command -v tesseract >/dev/null || {
    echo "ocr bench: installing Debian's tesseract-ocr" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tesseract-ocr tesseract-ocr-eng >/dev/null
}
scripts/testocr/make "$SET"
TRUTH=$MAGPIE_TESTDATA/ocr/$SET/truth.json
STORE=$MAGPIE_TESTDATA/ocr/store
# The model, installed the way a user does it: from the wheel in .venv.
MAGPIE_MODELS=$STORE nice -n 10 cargo run -q --bin magpie -- models import-ocr --from-rapidocr --python "$PY" >&2
nice -n 10 cargo build --release -p magpie-bench --bin ocrbench
MODEL=$STORE/pp-ocrv4
mapfile -t photos < <(find "$PHOTOS" -maxdepth 1 -iname '*.jpg' | sort | head -n "${BENCH_OCR_PHOTOS:-20}")

echo "== Magpie ($(date +%T))" >&2
target/release/ocrbench --model "$MODEL" --truth "$TRUTH" --rounds "$ROUNDS" --threads "$THREADS" >"$OUT/ocr-magpie.json"
target/release/ocrbench --model "$MODEL" --rounds "$ROUNDS" --threads "$THREADS" "${photos[@]}" >"$OUT/ocr-photos-magpie.json"
echo "== Magpie with RapidOCR's settings ($(date +%T))" >&2
target/release/ocrbench --model "$MODEL" --truth "$TRUTH" --rounds "$ROUNDS" --threads "$THREADS" --rapidocr-defaults >"$OUT/ocr-magpie-rapidocr.json"
echo "== RapidOCR ($(date +%T))" >&2
$PY bench/ocr_compare.py rapidocr --truth "$TRUTH" --rounds "$ROUNDS" --threads "$THREADS" --out "$OUT/ocr-rapidocr.json"
$PY bench/ocr_compare.py rapidocr "${photos[@]}" --rounds "$ROUNDS" --threads "$THREADS" --out "$OUT/ocr-photos-rapidocr.json"
echo "== Tesseract ($(date +%T))" >&2
$PY bench/ocr_compare.py tesseract --truth "$TRUTH" --rounds 1 --out "$OUT/ocr-tesseract.json"
$PY bench/ocr_compare.py tesseract "${photos[@]}" --rounds 1 --out "$OUT/ocr-photos-tesseract.json"
$PY bench/ocr_compare.py report --truth "$TRUTH" \
    --magpie "$OUT/ocr-magpie.json" --magpie-rapidocr "$OUT/ocr-magpie-rapidocr.json" --rapidocr "$OUT/ocr-rapidocr.json" --tesseract "$OUT/ocr-tesseract.json" \
    --photos-magpie "$OUT/ocr-photos-magpie.json" --photos-rapidocr "$OUT/ocr-photos-rapidocr.json" \
    --photos-tesseract "$OUT/ocr-photos-tesseract.json" --out "$OUT/ocr-results.json"
