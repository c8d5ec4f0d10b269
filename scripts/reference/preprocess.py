#!/usr/bin/env python3
"""Reference image preprocessing: what Hugging Face's `CLIPImageProcessor` (or, for SigLIP configs,
`SiglipImageProcessor`) feeds a model.

Why: Magpie decodes, orients, resizes and crops images in Rust. The fidelity tests shell out to
this script and compare Magpie's model input against the reference's, pixel by pixel.

    preprocess.py --config PATH [--no-exif] IMAGE...

PATH is a Hugging Face `preprocessor_config.json` (the reference case; `SiglipImageProcessorPil`
when its `image_processor_type` is `SiglipImageProcessor`); an Immich
`visual/preprocess_cfg.json` or a `magpie-model.toml` is translated into the equivalent
CLIPImageProcessor settings ("shortest": resize the shortest side + centre crop; "squash": resize
to size×size, no crop).

For each image: PIL opens it, `ImageOps.exif_transpose` applies the EXIF orientation (unless
--no-exif), then `transformers.CLIPImageProcessorPil` (the PIL backend of CLIPImageProcessor:
convert to RGB compositing transparency onto white, resize with PIL, centre crop) runs with
rescale/normalise switched off, giving the uint8 pixels the model input is computed from. The
script also runs the processor with rescale/normalise on and checks that its float output equals
(pixels/255 − mean)/std, so the uint8 printed here is exactly what the reference feeds the model
(a mismatch is an error).

stdout: a JSON list, per image either
  {"path", "width", "height", "source_width", "source_height", "pixels_b64"}
(`pixels_b64`: base64 of the uint8 HWC RGB bytes after resize + crop, before rescale/normalise;
`source_*`: the decoded size after EXIF orientation) or {"path", "error"} when PIL cannot read it.
Usage errors go to stderr with a non-zero exit status.
"""

import os
import sys

# The folder also holds `tokenize.py`, which would shadow the standard library's `tokenize`.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import argparse  # noqa: E402
import base64  # noqa: E402
import json  # noqa: E402
import warnings  # noqa: E402

OPENAI_CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
OPENAI_CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
RESAMPLE = {"bicubic": 3, "bilinear": 2}


def processor_settings(path: str) -> dict:
    """CLIPImageProcessor keyword arguments for a preprocessor config of any supported kind."""
    if path.endswith(".toml"):
        import tomllib

        with open(path, "rb") as f:
            image = tomllib.load(f)["image"]
        return translated(image["size"], image.get("resize", "shortest"), image.get("interpolation", "bicubic"), image.get("mean"), image.get("std"))
    with open(path, encoding="utf-8") as f:
        cfg = json.load(f)
    if "resize_mode" in cfg or isinstance(cfg.get("size"), list):  # Immich / open_clip
        size = cfg["size"][0] if isinstance(cfg["size"], list) else cfg["size"]
        return translated(size, cfg.get("resize_mode", "shortest"), cfg.get("interpolation", "bicubic"), cfg.get("mean"), cfg.get("std"))
    return {k: v for k, v in cfg.items() if k not in ("image_processor_type", "processor_class", "feature_extractor_type")}


def processor_type(path: str) -> str:
    if path.endswith(".toml"):
        return ""
    with open(path, encoding="utf-8") as f:
        return json.load(f).get("image_processor_type", "")


def translated(size: int, resize: str, interpolation: str, mean, std) -> dict:
    if resize not in ("shortest", "squash"):
        raise ValueError(f"resize mode {resize!r} is not supported (shortest, squash)")
    if interpolation not in RESAMPLE:
        raise ValueError(f"interpolation {interpolation!r} is not supported (bicubic, bilinear)")
    settings = {
        "do_resize": True,
        "resample": RESAMPLE[interpolation],
        "do_rescale": True,
        "rescale_factor": 1 / 255,
        "do_normalize": True,
        "image_mean": list(mean or OPENAI_CLIP_MEAN),
        "image_std": list(std or OPENAI_CLIP_STD),
        "do_convert_rgb": True,
    }
    if resize == "shortest":
        settings.update(size={"shortest_edge": size}, do_center_crop=True, crop_size={"height": size, "width": size})
    else:
        settings.update(size={"height": size, "width": size}, do_center_crop=False)
    return settings


def main() -> int:
    parser = argparse.ArgumentParser(description="Reference CLIP image preprocessing (CLIPImageProcessorPil).")
    parser.add_argument("--config", required=True, help="preprocessor_config.json (or Immich preprocess_cfg.json, or magpie-model.toml)")
    parser.add_argument("--no-exif", action="store_true", help="do not apply the EXIF orientation")
    parser.add_argument("images", nargs="+", help="image files")
    args = parser.parse_args()

    import numpy as np
    from PIL import Image, ImageOps

    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")  # no "PyTorch was not found" banner
    from transformers import CLIPImageProcessorPil, SiglipImageProcessorPil

    try:
        settings = processor_settings(args.config)
        # SigLIP's own processor for SigLIP configs (squash to size × size, bicubic, mean = std = 0.5).
        siglip = processor_type(args.config) == "SiglipImageProcessor"
        processor = (SiglipImageProcessorPil if siglip else CLIPImageProcessorPil)(**settings)
    except Exception as e:  # noqa: BLE001
        print(f"preprocess.py: cannot use {args.config}: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    mean = np.array(processor.image_mean, dtype=np.float32).reshape(3, 1, 1)
    std = np.array(processor.image_std, dtype=np.float32).reshape(3, 1, 1)
    scale = np.float32(processor.rescale_factor)

    results = []
    for path in args.images:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                image = Image.open(path)
                image.load()
                if not args.no_exif:
                    image = ImageOps.exif_transpose(image)
                raw = processor(images=image, do_rescale=False, do_normalize=False)["pixel_values"][0]
                full = processor(images=image)["pixel_values"][0]
        except Exception as e:  # noqa: BLE001 - unreadable files are reported, not fatal
            results.append({"path": path, "error": f"{type(e).__name__}: {e}"})
            continue
        raw = np.asarray(raw)
        if raw.dtype != np.uint8 or raw.ndim != 3 or raw.shape[0] != 3:
            print(f"preprocess.py: {path}: unexpected processor output {raw.dtype} {raw.shape}", file=sys.stderr)
            return 1
        expected = (raw.astype(np.float32) * scale - mean) / std
        diff = float(np.max(np.abs(expected - np.asarray(full, dtype=np.float32))))
        if diff > 1e-5:
            print(f"preprocess.py: {path}: normalised output differs from (pixels/255 - mean)/std by {diff}", file=sys.stderr)
            return 1
        hwc = np.ascontiguousarray(raw.transpose(1, 2, 0))
        results.append(
            {
                "path": path,
                "width": int(hwc.shape[1]),
                "height": int(hwc.shape[0]),
                "source_width": image.width,
                "source_height": image.height,
                "pixels_b64": base64.b64encode(hwc.tobytes()).decode("ascii"),
            }
        )
    json.dump(results, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
