#!/usr/bin/env python3
"""Decode + preprocess images/s per photo format: Magpie against its Python peers, in one run.

    bench/formats.py [--rounds 3] [--out bench/out/formats.json]

Makes the real-size files first (scripts/testformats/make_test_images.py --bench: a 12 MP HEIC,
24 MP DNGs with and without a full-size embedded preview) in .magpie/testdata/formats/bench/, then
times on one thread, per file:
- Magpie: target/release/formatbench (decode with the indexer's DCT scale, resize, crop,
  normalise);
- Python: pillow-heif (HEIC) or rawpy (RAW: `extract_thumb` + PIL for the preview,
  `postprocess` for the demosaic), then the same CLIP preprocessing with PIL + numpy.
Prints a table (and writes JSON): format, file, Magpie img/s, Python img/s, ratio.
Needs `cargo build --release -p magpie-bench --bin formatbench` and the project's .venv.
"""

import argparse
import io
import json
import os
import subprocess
import sys
import time

import numpy as np
from PIL import Image, ImageOps

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)


def clip_preprocess(image: Image.Image) -> np.ndarray:
    image = image.convert("RGB")
    w, h = image.size
    scale = 224 / min(w, h)
    image = image.resize((max(224, round(w * scale)), max(224, round(h * scale))), Image.BICUBIC)
    w, h = image.size
    left, top = (w - 224) // 2, (h - 224) // 2
    x = np.asarray(image.crop((left, top, left + 224, top + 224)), dtype=np.float32) / 255.0
    return ((x - MEAN) / STD).transpose(2, 0, 1)


def python_decode(path: str, how: str) -> Image.Image:
    if how == "heic":
        import pillow_heif

        heif = pillow_heif.open_heif(path)
        return ImageOps.exif_transpose(heif.to_pillow())
    import rawpy

    with rawpy.imread(path) as raw:
        if how == "preview":
            return Image.open(io.BytesIO(raw.extract_thumb().data))
        return Image.fromarray(raw.postprocess(use_camera_wb=True, output_bps=8))


def time_python(path: str, how: str, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        clip_preprocess(python_decode(path, how))
        best = min(best, time.perf_counter() - started)
    return 1.0 / best


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default=os.path.join(ROOT, "bench/out/formats.json"))
    args = parser.parse_args()
    data = os.path.join(ROOT, ".magpie/testdata/formats")
    subprocess.run([sys.executable, os.path.join(ROOT, "scripts/testformats/make_test_images.py"), "--out", data, "--bench"], check=True)
    files = [("heic", "bench/12mp.heic"), ("preview", "bench/preview.dng"), ("demosaic", "bench/nopreview.dng")]
    # OpenAI CLIP's preprocessor (224, bicubic, CLIP mean/std): what the Python side does too, and
    # what decides the indexer's DCT scale. (The tiny test models use smaller inputs.)
    config = os.path.join(data, "bench", "clip224_preprocessor_config.json")
    with open(config, "w") as f:
        json.dump({"do_resize": True, "size": {"shortest_edge": 224}, "resample": 3, "do_center_crop": True,
                   "crop_size": {"height": 224, "width": 224}, "do_rescale": True, "rescale_factor": 1 / 255,
                   "do_normalize": True, "image_mean": MEAN.tolist(), "image_std": STD.tolist(),
                   "image_processor_type": "CLIPImageProcessor"}, f)
    binary = os.path.join(ROOT, "target/release/formatbench")
    magpie = subprocess.run([binary, "--config", config, "--rounds", str(args.rounds), *[os.path.join(data, f) for _, f in files]], check=True, capture_output=True, text=True)
    ours = [json.loads(line) for line in magpie.stdout.splitlines() if line.strip()]
    rows = []
    for (how, rel), mine in zip(files, ours):
        theirs = time_python(os.path.join(data, rel), how, args.rounds)
        rows.append({"how": how, "file": rel, "size": f"{mine['width']}x{mine['height']}", "magpie_images_per_second": mine["best_images_per_second"], "python_images_per_second": theirs, "ratio": mine["best_images_per_second"] / theirs, "magpie": mine})
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"machine": os.uname().nodename, "cpus": os.cpu_count(), "rows": rows}, f, indent=1)
    print(f"{'what':10} {'size':>10} {'Magpie img/s':>13} {'Python img/s':>13} {'ratio':>6}")
    for r in rows:
        print(f"{r['how']:10} {r['size']:>10} {r['magpie_images_per_second']:13.2f} {r['python_images_per_second']:13.2f} {r['ratio']:6.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
