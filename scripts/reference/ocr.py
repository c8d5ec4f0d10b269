#!/usr/bin/env python3
"""RapidOCR reference: what `rapidocr_onnxruntime` (Python, PP-OCRv4 models shipped in the wheel,
its default config) reads in each image.

Magpie's OCR engine (crate `magpie-ocr`) reimplements RapidOCR 1.4.4's pipeline in Rust; the parity
test and the benchmarks compare against this script's output.

Images are decoded the way Magpie decodes them (Pillow, EXIF orientation applied, converted to RGB)
and handed to RapidOCR as a BGR array, which is what RapidOCR's own loader produces for a file
except that it ignores EXIF orientation. Everything after decoding is RapidOCR's, untouched.

Usage:
  ocr.py IMAGE...                       # JSON list on stdout
  ocr.py --truth truth.json --out F     # every image of a generated set (scripts/testocr)
Options: --threads N (ONNX Runtime intra-op threads; default: all cores, RapidOCR's default)

Output: [{"file", "width", "height", "seconds", "lines": [{"box": [[x, y] × 4], "text", "score"}]}
or {"file", "error"}]. `seconds` is decode + OCR of that image, models already loaded.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

# A script in this folder is named tokenize.py; keep it from shadowing the standard library.
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import numpy as np  # noqa: E402
from PIL import Image, ImageOps  # noqa: E402
from rapidocr_onnxruntime import RapidOCR  # noqa: E402


def load_bgr(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        image = ImageOps.exif_transpose(image)
        rgb = np.asarray(image.convert("RGB"))
    return np.ascontiguousarray(rgb[:, :, ::-1])


def make_engine(threads: int | None) -> RapidOCR:
    if threads is None:
        return RapidOCR()
    return RapidOCR(intra_op_num_threads=threads, inter_op_num_threads=1)


def read(engine: RapidOCR, path: Path, label: str) -> dict:
    start = time.perf_counter()
    try:
        image = load_bgr(path)
        result, _ = engine(image)
    except Exception as error:  # noqa: BLE001 - reported per file, the run goes on
        return {"file": label, "error": f"{type(error).__name__}: {error}"}
    seconds = time.perf_counter() - start
    lines = []
    for box, text, score in result or []:
        lines.append({"box": [[float(x), float(y)] for x, y in box], "text": text, "score": float(score)})
    return {"file": label, "width": int(image.shape[1]), "height": int(image.shape[0]),
            "seconds": seconds, "lines": lines}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("images", nargs="*", type=Path)
    parser.add_argument("--truth", type=Path, help="truth.json of a generated set")
    parser.add_argument("--out", type=Path, help="write the JSON here instead of stdout")
    parser.add_argument("--threads", type=int)
    args = parser.parse_args()
    engine = make_engine(args.threads)
    jobs: list[tuple[Path, str]] = [(p, str(p)) for p in args.images]
    if args.truth:
        truth = json.loads(args.truth.read_text())
        jobs += [(args.truth.parent / image["file"], image["file"]) for image in truth["images"]]
    if not jobs:
        parser.error("no images (give IMAGE... or --truth)")
    results = [read(engine, path, label) for path, label in jobs]
    text = json.dumps(results, ensure_ascii=False, indent=1)
    if args.out:
        args.out.write_text(text)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
