#!/usr/bin/env python3
"""The CPU indexing pipeline the way Immich's ML service and rclip write it, for comparison.

Per image: PIL open, EXIF transpose, convert("RGB"), bicubic resize of the shortest side to 224
(aspect kept), centre crop 224x224, scale to [0, 1], normalise with CLIP's mean/std, HWC -> CHW;
then an onnxruntime InferenceSession on the model's onnx/vision_model.onnx. Immich embeds one image
per request (batch 1); rclip-style batch N decodes N images, then runs one batch. Decoding and
inference alternate in one thread (as in both projects); ONNX Runtime uses its default thread pool
(all cores), the most favourable setting for this side.

    python_pipeline.py --model DIR --photos DIR [--batch 1] [--rounds 3] [--draft]

--draft adds PIL's JPEG draft mode (DCT-scaled decode), which neither project uses; it shows how
much of the gap is the decoder. Prints one JSON object on stdout.
"""

import argparse
import io
import json
import os
import sys
import time

import numpy as np
import onnxruntime as ort
from PIL import Image, ImageOps

MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)
SIZE = 224


def resize_pil(img, size):
    """Immich's transforms.resize_pil: shortest side to `size`, bicubic."""
    if img.width < img.height:
        return img.resize((size, int((img.height / img.width) * size)), resample=Image.Resampling.BICUBIC)
    return img.resize((int((img.width / img.height) * size), size), resample=Image.Resampling.BICUBIC)


def crop_pil(img, size):
    left = int((img.size[0] / 2) - (size / 2))
    upper = int((img.size[1] / 2) - (size / 2))
    return img.crop((left, upper, left + size, upper + size))


def preprocess(data, draft):
    image = Image.open(io.BytesIO(data))
    if draft and image.format == "JPEG":
        image.draft("RGB", (SIZE * 2, SIZE * 2))
    image.load()
    image = ImageOps.exif_transpose(image)
    if image.mode != "RGB":
        image = image.convert("RGB")
    image = crop_pil(resize_pil(image, SIZE), SIZE)
    array = np.asarray(image, dtype=np.float32) / 255.0
    array = np.divide(array - MEAN, STD, dtype=np.float32)
    return array.transpose(2, 0, 1)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True)
    parser.add_argument("--photos", required=True)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--draft", action="store_true")
    args = parser.parse_args()

    paths = sorted(
        os.path.join(args.photos, name)
        for name in os.listdir(args.photos)
        if name.lower().endswith((".jpg", ".jpeg", ".png"))
    )
    opened = time.perf_counter()
    session = ort.InferenceSession(
        os.path.join(args.model, "onnx", "vision_model.onnx"), providers=["CPUExecutionProvider"]
    )
    open_seconds = time.perf_counter() - opened
    input_name = session.get_inputs()[0].name
    output_name = "image_embeds" if any(o.name == "image_embeds" for o in session.get_outputs()) else session.get_outputs()[0].name
    session.run([output_name], {input_name: np.zeros((1, 3, SIZE, SIZE), dtype=np.float32)})

    decode_seconds = 0.0
    infer_seconds = 0.0
    embedded = 0
    failures = set()
    started = time.perf_counter()
    for _ in range(args.rounds):
        pending = []
        for index, path in enumerate(paths):
            t0 = time.perf_counter()
            try:
                with open(path, "rb") as f:
                    pending.append(preprocess(f.read(), args.draft))
            except Exception as error:  # corrupt files are skipped, as both projects do
                failures.add((path, str(error)))
            decode_seconds += time.perf_counter() - t0
            if len(pending) == args.batch or (index == len(paths) - 1 and pending):
                t0 = time.perf_counter()
                out = session.run([output_name], {input_name: np.stack(pending)})[0]
                out = out / np.linalg.norm(out, axis=-1, keepdims=True)
                infer_seconds += time.perf_counter() - t0
                embedded += len(pending)
                pending = []
    seconds = time.perf_counter() - started
    report = {
        "bench": "python_pipeline",
        "batch": args.batch,
        "draft": args.draft,
        "rounds": args.rounds,
        "files": len(paths),
        "failures": sorted(f"{os.path.basename(p)}: {e}" for p, e in failures),
        "embedded": embedded,
        "seconds": seconds,
        "images_per_second": embedded / seconds,
        "decode_preprocess_seconds": decode_seconds,
        "inference_seconds": infer_seconds,
        "session_open_seconds": open_seconds,
        "onnxruntime": ort.__version__,
        "pillow": Image.__version__ if hasattr(Image, "__version__") else None,
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
