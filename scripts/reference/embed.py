#!/usr/bin/env python3
"""Reference embeddings: what Python ONNX Runtime (CPU) computes for given model inputs.

Why: Magpie runs the CLIP towers through the Rust `ort` crate, with its own batching, input naming,
id types and attention masks for each model layout. The fidelity tests shell out to this script
with the *same* preprocessed pixels and token ids and compare the L2-normalised embeddings, so any
difference is in how Magpie drives the model, not in preprocessing or tokenization.

    embed.py --model-dir DIR [--batch-size N]

The layout is detected like Magpie does: `magpie-model.toml` (manifest, wins), else
`onnx/vision_model.onnx` + `onnx/text_model.onnx` (Hugging Face / Xenova; the towers may also sit
beside the configs), else `visual/model.onnx` + `textual/model.onnx` (Immich).

stdin: {"pixels": [base64 float32 little-endian NCHW tensor per image (3×S×S, already normalised)],
        "ids": [[int, ...], ...]}          (either list may be empty or missing)
stdout: {"layout": "...", "image": [[...], ...], "text": [[...], ...]}  (L2-normalised)

Text inputs: ids are int64 (int32 for Immich, or as the manifest says). Where the model has an
attention-mask input it gets 1 for every position up to and including the first end-of-text token
and 0 after it: that is the mask Hugging Face's CLIP tokenizer produces. (Testing `ids != pad`
instead would also mask the end-of-text token itself whenever pad == end-of-text, as in CLIP.)
Errors go to stderr with a non-zero exit status.
"""

import os
import sys

# The folder also holds `tokenize.py`, which would shadow the standard library's `tokenize`.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import argparse  # noqa: E402
import base64  # noqa: E402
import json  # noqa: E402
from pathlib import Path  # noqa: E402


class Fail(Exception):
    pass


def special_ids(tokenizer_path: Path, configs: list) -> tuple:
    """(pad_id, eot_id) from a tokenizer.json and its tokenizer_config/special_tokens_map."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer_path))
    pad = eos = None
    for config in configs:
        if config.is_file():
            data = json.loads(config.read_text(encoding="utf-8"))

            def text(key):
                value = data.get(key)
                return value.get("content") if isinstance(value, dict) else value

            pad = pad or text("pad_token")
            eos = eos or text("eos_token")
    eot_id = tok.token_to_id(eos or "<|endoftext|>")
    if eot_id is None:
        raise Fail(f"{tokenizer_path}: no end-of-text token {eos or '<|endoftext|>'!r}")
    pad_id = tok.token_to_id(pad) if pad else eot_id
    if pad_id is None:
        raise Fail(f"{tokenizer_path}: pad token {pad!r} not in the vocabulary")
    return pad_id, eot_id


def detect(d: Path) -> dict:
    """Tower files, tensor names, id type, image size, pad/eot ids for a model directory."""
    import numpy as np

    manifest = d / "magpie-model.toml"
    if manifest.is_file():
        import tomllib

        with open(manifest, "rb") as f:
            m = tomllib.load(f)
        image, text = m["image"], m["text"]
        pad_id, eot_id = text.get("pad_id"), text.get("eot_id")
        if pad_id is None or eot_id is None:
            tok_pad, tok_eot = special_ids(d / text["tokenizer"], [])
            pad_id = tok_pad if pad_id is None else pad_id
            eot_id = tok_eot if eot_id is None else eot_id
        return {
            "layout": "magpie-manifest",
            "image_file": d / image["file"], "image_in": image["input"], "image_out": image["output"], "size": image["size"],
            "text_file": d / text["file"], "ids_in": text["input_ids"], "mask_in": text.get("attention_mask"), "text_out": text["output"],
            "ids_type": np.int32 if text.get("input_ids_type", "int64") == "int32" else np.int64,
            "pad_id": pad_id, "eot_id": eot_id,
        }
    towers = [next((p for p in (d / "onnx" / n, d / n) if p.is_file()), None) for n in ("vision_model.onnx", "text_model.onnx")]
    if all(towers):
        pre = json.loads((d / "preprocessor_config.json").read_text(encoding="utf-8"))
        config = json.loads((d / "config.json").read_text(encoding="utf-8")) if (d / "config.json").is_file() else {}
        crop = pre.get("crop_size", config.get("vision_config", {}).get("image_size", 224))
        size = crop.get("height", crop.get("shortest_edge")) if isinstance(crop, dict) else crop
        pad_id, eot_id = special_ids(d / "tokenizer.json", [d / "tokenizer_config.json", d / "special_tokens_map.json"])
        return {
            "layout": "hugging-face",
            "image_file": towers[0], "image_in": "pixel_values", "image_out": "image_embeds", "size": size,
            "text_file": towers[1], "ids_in": "input_ids", "mask_in": "attention_mask", "text_out": "text_embeds",
            "ids_type": np.int64, "pad_id": pad_id, "eot_id": eot_id,
        }
    if (d / "visual" / "model.onnx").is_file() and (d / "textual" / "model.onnx").is_file():
        pre = json.loads((d / "visual" / "preprocess_cfg.json").read_text(encoding="utf-8"))
        size = pre["size"][0] if isinstance(pre["size"], list) else pre["size"]
        t = d / "textual"
        pad_id, eot_id = special_ids(t / "tokenizer.json", [t / "tokenizer_config.json", t / "special_tokens_map.json"])
        return {
            "layout": "immich",
            "image_file": d / "visual" / "model.onnx", "image_in": "image", "image_out": "embedding", "size": size,
            "text_file": t / "model.onnx", "ids_in": "text", "mask_in": None, "text_out": "embedding",
            "ids_type": np.int32, "pad_id": pad_id, "eot_id": eot_id,
        }
    raise Fail(f"{d}: not a CLIP model directory (no magpie-model.toml, onnx/vision_model.onnx + onnx/text_model.onnx, or visual/ + textual/)")


def session(path: Path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def run_batches(sess, feeds: dict, output: str, batch_size: int):
    import numpy as np

    n = len(next(iter(feeds.values())))
    step = batch_size or n
    parts = [sess.run([output], {k: v[i : i + step] for k, v in feeds.items()})[0] for i in range(0, n, step)]
    out = np.concatenate(parts).astype(np.float64)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    if not np.all(np.isfinite(out)) or np.any(norms == 0):
        raise Fail(f"{output}: non-finite or zero embedding")
    return (out / norms).tolist()


def main() -> int:
    parser = argparse.ArgumentParser(description="Reference CLIP embeddings (Python ONNX Runtime, CPU).")
    parser.add_argument("--model-dir", required=True, type=Path, help="model directory (Hugging Face, Immich, or magpie-model.toml)")
    parser.add_argument("--batch-size", type=int, default=0, help="images/texts per ONNX run (default: all at once)")
    args = parser.parse_args()

    import numpy as np

    try:
        spec = detect(args.model_dir)
        request = json.loads(sys.stdin.buffer.read().decode("utf-8") or "{}")
        result = {"layout": spec["layout"], "image": [], "text": []}

        pixels = request.get("pixels") or []
        if pixels:
            size = int(spec["size"])
            tensors = []
            for i, b64 in enumerate(pixels):
                x = np.frombuffer(base64.b64decode(b64), dtype="<f4")
                if x.size != 3 * size * size:
                    raise Fail(f"pixels[{i}]: {x.size} floats, expected 3×{size}×{size} = {3 * size * size}")
                tensors.append(x.reshape(3, size, size))
            feeds = {spec["image_in"]: np.stack(tensors).astype(np.float32)}
            result["image"] = run_batches(session(spec["image_file"]), feeds, spec["image_out"], args.batch_size)

        ids = request.get("ids") or []
        if ids:
            if len({len(row) for row in ids}) != 1:
                raise Fail("ids: rows of different lengths")
            rows = np.array(ids, dtype=np.int64)
            feeds = {spec["ids_in"]: rows.astype(spec["ids_type"])}
            text = session(spec["text_file"])
            if spec["mask_in"] and spec["mask_in"] in {i.name for i in text.get_inputs()}:
                is_eot = rows == spec["eot_id"]
                length = np.where(is_eot.any(axis=1), is_eot.argmax(axis=1) + 1, rows.shape[1])
                mask = (np.arange(rows.shape[1])[None, :] < length[:, None]).astype(spec["ids_type"])
                feeds[spec["mask_in"]] = mask
            result["text"] = run_batches(text, feeds, spec["text_out"], args.batch_size)
    except (Fail, OSError, ValueError, KeyError) as e:
        print(f"embed.py: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    except Exception as e:  # noqa: BLE001 - ONNX Runtime errors
        print(f"embed.py: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
