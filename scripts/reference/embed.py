#!/usr/bin/env python3
"""Reference embeddings: what Python ONNX Runtime (CPU) computes for given model inputs.

Why: Magpie runs the CLIP towers through the Rust `ort` crate, with its own batching, input naming,
id types and attention masks for each model layout. The fidelity tests shell out to this script
with the *same* preprocessed pixels and token ids and compare the L2-normalised embeddings, so any
difference is in how Magpie drives the model, not in preprocessing or tokenization.

    embed.py --model-dir DIR [--batch-size N] [--variant fp32|fp16|int8]

The layout is detected like Magpie does: `magpie-model.toml` (manifest, wins), else
`onnx/vision_model.onnx` + `onnx/text_model.onnx` (Hugging Face / Xenova; the towers may also sit
beside the configs), else `visual/model.onnx` + `textual/model.onnx` (Immich).

stdin: {"pixels": [base64 float32 little-endian NCHW tensor per image (3×S×S, already normalised)],
        "ids": [[int, ...], ...], "lengths": [int, ...]}   (any may be empty or missing)
stdout: {"layout": "...", "image": [[...], ...], "text": [[...], ...]}  (L2-normalised)

Tensor names and element types come from each session (as Magpie reads them): the image input is
the graph's four-dimensional input (float32 or float16), the token ids go to `input_ids` / `text`
in the graph's integer type, the embedding is the first of image_embeds/text_embeds, embedding,
embeddings, *_features, sentence_embedding, pooler_output the graph has (a manifest names them
itself). `--variant fp16|int8` picks `*_fp16.onnx` / `*_quantized.onnx` towers. Graphs with a fixed
batch (Immich: 1) run one row at a time. Where the model has an attention-mask input it gets 1 for
the first `lengths[i]` positions when stdin gives `lengths` (the tokenizer's real lengths), else
1 up to and including the first end-of-text token: the mask Hugging Face's tokenizers produce.
(Testing `ids != pad` instead would also mask the end-of-text token itself whenever pad ==
end-of-text, as in CLIP.)
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


IMAGE_OUTPUTS = ["image_embeds", "embedding", "embeddings", "image_features", "pooler_output"]
TEXT_OUTPUTS = ["text_embeds", "embedding", "embeddings", "text_features", "sentence_embedding", "pooler_output"]
IDS_INPUTS = ["input_ids", "text", "ids", "tokens", "input"]
VARIANT_SUFFIXES = {"fp32": [""], "fp16": ["_fp16"], "int8": ["_quantized", "_int8", "_uint8"]}


def hf_tower(d: Path, name: str, variant: str):
    for suffix in VARIANT_SUFFIXES[variant]:
        for p in (d / "onnx" / f"{name}{suffix}.onnx", d / f"{name}{suffix}.onnx"):
            if p.is_file():
                return p
    return None


def detect(d: Path, variant: str) -> dict:
    """Tower files, image size, pad/eot ids for a model directory; tensor names come from the
    sessions (see `io_names`), except where a manifest states them."""
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
            "pad_id": pad_id, "eot_id": eot_id,
        }
    towers = [hf_tower(d, n, variant) for n in ("vision_model", "text_model")]
    if all(towers):
        pre = json.loads((d / "preprocessor_config.json").read_text(encoding="utf-8"))
        config = json.loads((d / "config.json").read_text(encoding="utf-8")) if (d / "config.json").is_file() else {}
        crop = pre.get("crop_size") or pre.get("size") or config.get("vision_config", {}).get("image_size", 224)
        size = crop.get("height", crop.get("shortest_edge")) if isinstance(crop, dict) else crop
        _, eot_id = special_ids(d / "tokenizer.json", [d / "tokenizer_config.json", d / "special_tokens_map.json"])
        return {"layout": "hugging-face", "image_file": towers[0], "text_file": towers[1], "size": size, "eot_id": eot_id}
    if (d / "visual" / "model.onnx").is_file() and (d / "textual" / "model.onnx").is_file():
        pre = json.loads((d / "visual" / "preprocess_cfg.json").read_text(encoding="utf-8"))
        size = pre["size"][0] if isinstance(pre["size"], list) else pre["size"]
        t = d / "textual"
        _, eot_id = special_ids(t / "tokenizer.json", [t / "tokenizer_config.json", t / "special_tokens_map.json"])
        return {"layout": "immich", "image_file": d / "visual" / "model.onnx", "text_file": t / "model.onnx", "size": size, "eot_id": eot_id}
    raise Fail(f"{d}: not a CLIP model directory (no magpie-model.toml, onnx/vision_model{VARIANT_SUFFIXES[variant][0]}.onnx + onnx/text_model{VARIANT_SUFFIXES[variant][0]}.onnx, or visual/ + textual/)")


def pick_output(sess, known: list) -> str:
    names = [o.name for o in sess.get_outputs()]
    for name in known:
        if name in names:
            return name
    flat = [o.name for o in sess.get_outputs() if len(o.shape) == 2]
    if len(flat) == 1:
        return flat[0]
    raise Fail(f"cannot tell the embedding output among {names}")


def session(path: Path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def fixed_batch(sess, input_name: str) -> int:
    """The batch size the graph fixes (Immich exports: 1), else 0 (all at once)."""
    first = next(i for i in sess.get_inputs() if i.name == input_name).shape[0]
    return first if isinstance(first, int) and first > 0 else 0


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
    parser.add_argument("--batch-size", type=int, default=0, help="images/texts per ONNX run (default: all at once, or the graph's fixed batch)")
    parser.add_argument("--variant", default="fp32", choices=list(VARIANT_SUFFIXES), help="which towers of a Hugging Face directory (default fp32)")
    args = parser.parse_args()

    import numpy as np

    try:
        spec = detect(args.model_dir, args.variant)
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
            sess = session(spec["image_file"])
            image_in = spec.get("image_in") or next(i for i in sess.get_inputs() if len(i.shape) == 4)
            image_in = image_in if isinstance(image_in, str) else image_in.name
            dtype = np.float16 if "float16" in next(i.type for i in sess.get_inputs() if i.name == image_in) else np.float32
            feeds = {image_in: np.stack(tensors).astype(dtype)}
            out = spec.get("image_out") or pick_output(sess, IMAGE_OUTPUTS)
            result["image"] = run_batches(sess, feeds, out, args.batch_size or fixed_batch(sess, image_in))

        ids = request.get("ids") or []
        if ids:
            if len({len(row) for row in ids}) != 1:
                raise Fail("ids: rows of different lengths")
            rows = np.array(ids, dtype=np.int64)
            text = session(spec["text_file"])
            types = {i.name: i.type for i in text.get_inputs()}
            ids_in = spec.get("ids_in") or next((n for n in IDS_INPUTS if n in types), None)
            if ids_in is None:
                raise Fail(f"no token-id input among {list(types)}")
            as_type = lambda name: np.int32 if "int32" in types[name] else np.int64  # noqa: E731
            feeds = {ids_in: rows.astype(as_type(ids_in))}
            mask_in = spec.get("mask_in") or ("attention_mask" if "attention_mask" in types else None)
            if mask_in and mask_in in types:
                lengths = request.get("lengths")
                if lengths is None:  # 1 up to and including the first end-of-text, as HF's CLIP tokenizer
                    eot = spec.get("eot_id")
                    is_eot = rows == eot
                    lengths = np.where(is_eot.any(axis=1), is_eot.argmax(axis=1) + 1, rows.shape[1])
                lengths = np.asarray(lengths)
                feeds[mask_in] = (np.arange(rows.shape[1])[None, :] < lengths[:, None]).astype(as_type(mask_in))
            if "token_type_ids" in types:
                feeds["token_type_ids"] = np.zeros_like(rows).astype(as_type("token_type_ids"))
            out = spec.get("text_out") or pick_output(text, TEXT_OUTPUTS)
            result["text"] = run_batches(text, feeds, out, args.batch_size or fixed_batch(text, ids_in))
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
