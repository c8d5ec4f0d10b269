#!/usr/bin/env python3
"""Generates random-weight ONNX models with the REAL shapes of popular CLIP-family exports, for CPU
speed benchmarks (random weights cost exactly what trained ones cost: same graph, same sizes).

Why: no pretrained weights can be downloaded on the machines this project is built on, and the
tiny test models of `scripts/testmodels/` are far too small to time anything. This script reuses
those builders (`graphs.py`, `families.py`, `family_tokenizers.py`, `make_test_models.py`; imported,
not copied) with the real widths, depths and vocabulary sizes, and writes each model in the Hugging
Face layout Magpie's loader expects for its family:

  siglip2-b16-224  SigLIP2 ViT-B/16 at 224 (onnx-community/siglip2-base-patch16-224 layout):
                   vision 768 wide, 12 layers, 12 heads, MLP 3072, patch 16, MAP head;
                   text 768 wide, 12 layers, 12 heads, MLP 3072, 64 tokens, embedding 768, a
                   256000-row token embedding (Gemma's real vocabulary size).
  siglip2-b16-384  the same at 384 px (576 patches).
  clip-vit-b32     OpenAI CLIP ViT-B/32 (Xenova/clip-vit-base-patch32 layout): vision 768 wide,
                   12 layers, patch 32, 224 px, projection to 512; text 512 wide, 12 layers,
                   8 heads, 77 tokens, vocabulary 49408. The fp32 graphs are exactly what
                   `make_test_models.py --full --only vit-b32` builds (`make_vit_b32`, the real CLIP
                   tokenizer from ../shared/models/clip-tokenizer); without that tokenizer the
                   self-made one is used and the token table still gets 49408 rows.

Tokenizers: the SigLIP2 tokenizer is the locally trained Gemma-structured BPE of
`family_tokenizers.write_gemma` (about 900 tokens, no real vocabulary can be downloaded). Its ids
index the first rows of the 256000-row embedding table, so the table costs what the real one costs
(memory, file size, load time) while only a few rows are ever read; `config.json` declares
`vocab_size` 256000, which Magpie accepts (the tokenizer's ids fit).

Weights: seeded normal, std 0.02 in the transformer blocks (the token table and probe keep the
builders' fixed scales), so activations stay finite in float32 and float16.

Variants, next to the fp32 towers as the real repositories have them:
  `*_fp16.onnx`       a REAL float16 graph (float16 weights, arithmetic, inputs and outputs), made
                      with `onnxruntime.transformers.float16.convert_float_to_float16(model,
                      keep_io_types=False)` as the transformers.js / onnx-community conversions do
                      (not `families.to_fp16`, which keeps float32 arithmetic). One exception: the
                      CLIP text tower pools at argmax(input_ids), which the test builder computes
                      on ids cast to float; float16 cannot tell ids 49406 and 49407 apart (both
                      round to 49408), so in the fp16 graph that Cast goes to int32 instead (optimum's
                      CLIP export takes argmax on int32 ids too). (Blocking the two nodes from
                      conversion does not work: the converter still routes the value between
                      them through a float16 Cast.)
  `*_quantized.onnx`  `onnxruntime.quantization.quantize_dynamic` (uint8 weights, float32 I/O),
                      via `families.write_quantized`.
fp32 weights stay inline (the biggest tower, SigLIP2's text tower, is about 1.1 GB, below protobuf's
2 GB limit; `graphs.save_model` moves weights into `<name>_data` by itself past 1.8 GB).

Outputs Magpie reads: SigLIP2 `pooler_output` (both towers; also `last_hidden_state`), CLIP
`image_embeds` / `text_embeds` (also `last_hidden_state`).

Usage:
  .venv/bin/python bench/make_family_models.py [--out DIR] [--only NAME ...] [--force] [--check]

A model whose files all exist is skipped unless --force. Each model is built in a temporary
directory beside its target and renamed into place. `--check` runs every tower of every variant in
ONNX Runtime (CPU) on a batch of 2 and prints the cosine of the fp16 and int8 outputs to fp32.
"""

from __future__ import annotations

import argparse
import copy
import gc
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "scripts" / "testmodels"))
import family_tokenizers as toks  # noqa: E402
import families  # noqa: E402
import make_test_models as mtm  # noqa: E402
from graphs import save_model, text_tower, vision_tower  # noqa: E402

DEFAULT_OUT = REPO_ROOT / ".magpie" / "testdata" / "bench-models"

GEMMA_VOCAB = 256000
CLIP_VOCAB = 49408


def siglip2_b16(size: int) -> dict:
    return dict(
        vision=dict(size=size, patch=16, width=768, layers=12, heads=12, mlp=3072, std=0.02),
        text=dict(width=768, layers=12, heads=12, mlp=3072, dim=768, std=0.02, context=64),
    )


VARIANT_FILES = ["onnx/vision_model_fp16.onnx", "onnx/text_model_fp16.onnx", "onnx/vision_model_quantized.onnx", "onnx/text_model_quantized.onnx"]
HF_FILES = ["onnx/vision_model.onnx", "onnx/text_model.onnx", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "config.json", "preprocessor_config.json"]


# --------------------------------------------------------------------------------------------------
# Variants
# --------------------------------------------------------------------------------------------------


def to_real_fp16(model: onnx.ModelProto) -> onnx.ModelProto:
    """A true float16 graph, as the onnx-community / transformers.js fp16 exports are (float16
    weights, activations, inputs and outputs). The argmax-over-ids pooling of the CLIP text tower
    (a Cast of the ids to float, then ArgMax) becomes a Cast to int32: float16 cannot represent ids
    near 49407 exactly. The fp32 graphs are not touched."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    m = copy.deepcopy(model)
    producers = {out: node for node in m.graph.node for out in node.output}
    for node in m.graph.node:
        source = producers.get(node.input[0]) if node.op_type == "ArgMax" else None
        if source is not None and source.op_type == "Cast":
            for attr in source.attribute:
                if attr.name == "to" and attr.i == TensorProto.FLOAT:
                    attr.i = TensorProto.INT32  # argmax on integer ids, as optimum's CLIP export
    logging.getLogger("onnxruntime.transformers.float16").setLevel(logging.ERROR)
    half = convert_float_to_float16(m, keep_io_types=False)
    del m
    return half


def write_variants(onnx_dir: Path, tower: str) -> None:
    """`<tower>_fp16.onnx` and `<tower>_quantized.onnx` from the inline fp32 `<tower>.onnx`."""
    fp32 = onnx_dir / f"{tower}.onnx"
    model = onnx.load(str(fp32))
    half = to_real_fp16(model)
    del model
    gc.collect()
    save_model(half, onnx_dir / f"{tower}_fp16.onnx")
    del half
    gc.collect()
    families.write_quantized(fp32, onnx_dir / f"{tower}_quantized.onnx")
    gc.collect()


# --------------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------------


def make_siglip2(d: Path, size: int, seeds: tuple[int, int]) -> None:
    """SigLIP2 B/16 in the onnx-community layout (what `families.make_siglip2_hf` writes, at full
    size): Gemma tokenizer files, `pooler_output` + `last_hidden_state`, input_ids only."""
    f = siglip2_b16(size)
    toks.write_gemma(d, mtm.COLOUR_WORDS + mtm.COMMON_WORDS)
    onnx_dir = d / "onnx"
    outputs = {"hidden": "last_hidden_state", "pooled": "pooler_output"}
    vision = families.siglip_vision(f["vision"], seeds[0], "pixel_values", outputs, "batch_size", False)
    save_model(vision, onnx_dir / "vision_model.onnx")
    del vision
    gc.collect()
    write_variants(onnx_dir, "vision_model")
    text = families.siglip_text(f["text"], GEMMA_VOCAB, seeds[1], "input_ids", TensorProto.INT64, dict(outputs), "batch_size", "sequence_length")
    save_model(text, onnx_dir / "text_model.onnx")
    del text
    gc.collect()
    write_variants(onnx_dir, "text_model")
    families.write_json(d / "config.json", families.hf_siglip_config(f, GEMMA_VOCAB, 0, 1))
    families.write_json(d / "preprocessor_config.json", families.siglip_preprocessor(size))


def make_clip_b32(d: Path) -> None:
    """OpenAI CLIP ViT-B/32 in the Xenova layout: `make_test_models.make_vit_b32` (fp32, real
    tokenizer), then the fp16 and int8 variants."""
    if mtm.vit_b32_tokenizer_source() == "shared":
        mtm.make_vit_b32(d)
    else:  # the self-made tokenizer is small; keep the real 49408-row token table anyway
        print(f"  clip-vit-b32: {mtm.SHARED_TOKENIZER} not found, using the self-made tokenizer", file=sys.stderr)
        _, sot_id, eot_id = mtm.write_tokenizer(d)
        text = dict(mtm.VIT_B32_TEXT, vocab=CLIP_VOCAB)
        save_model(vision_tower(mtm.VIT_B32_VISION, 3001, "pixel_values", "image_embeds", "last_hidden_state"), d / "onnx" / "vision_model.onnx")
        save_model(text_tower(text, 3002, "input_ids", TensorProto.INT64, "attention_mask", "text_embeds", "last_hidden_state", dynamic_sequence=True), d / "onnx" / "text_model.onnx")
        config, preprocessor = mtm.hf_configs(mtm.VIT_B32_VISION, text, sot_id, eot_id)
        mtm.write_json(d / "config.json", config)
        mtm.write_json(d / "preprocessor_config.json", preprocessor)
    gc.collect()
    write_variants(d / "onnx", "vision_model")
    write_variants(d / "onnx", "text_model")


# name: (builder, files that must exist, family for --check)
MODELS = {
    "siglip2-b16-224": (lambda d: make_siglip2(d, 224, (9001, 9002)), HF_FILES + VARIANT_FILES, "siglip2"),
    "siglip2-b16-384": (lambda d: make_siglip2(d, 384, (9101, 9102)), HF_FILES + VARIANT_FILES, "siglip2"),
    "clip-vit-b32": (make_clip_b32, HF_FILES + VARIANT_FILES, "clip"),
}


def generate(out: Path, name: str, force: bool) -> bool:
    """Builds `name` unless complete; returns whether it wrote anything."""
    builder, files, _ = MODELS[name]
    target = out / name
    if not force and all((target / f).is_file() for f in files):
        print(f"{name}: all files present in {target}, skipped (--force rebuilds)")
        return False
    start = time.monotonic()
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.tmp-", dir=out))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)
    try:
        builder(tmp)
        missing = [f for f in files if not (tmp / f).is_file()]
        if missing:
            raise RuntimeError(f"{name}: builder did not write {missing}")
        if target.exists():
            shutil.rmtree(target)
        os.rename(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"{name}: written to {target} in {time.monotonic() - start:.0f} s")
    report_sizes(target)
    return True


def report_sizes(d: Path) -> None:
    total = 0
    for p in sorted(d.rglob("*")):
        if p.is_file():
            size = p.stat().st_size
            total += size
            print(f"  {size / 1e6:10.1f} MB  {p.relative_to(d)}")
    print(f"  {total / 1e6:10.1f} MB  total")


# --------------------------------------------------------------------------------------------------
# Check
# --------------------------------------------------------------------------------------------------


def _session(path: Path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = 1  # be gentle on a shared machine
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def check_model(d: Path, family: str) -> list[str]:
    from tokenizers import Tokenizer

    failures = []
    config = __import__("json").loads((d / "config.json").read_text())
    rng = np.random.default_rng(5)
    tok = Tokenizer.from_file(str(d / "tokenizer.json"))
    if family == "siglip2":
        size, dim, pooled = config["vision_config"]["image_size"], config["text_config"]["projection_size"], "pooler_output"
        ids = np.zeros((2, 64), np.int64)  # <pad>=0, as the Gemma tokenizer pads
        for row, text in enumerate(["a photo of a cat on the sofa", "two dogs running on a beach at sunset"]):
            enc = tok.encode(text).ids
            ids[row, : len(enc)] = enc
        text_feeds = {"input_ids": ids}
        text_out = image_out = pooled
    else:
        size, dim = config["vision_config"]["image_size"], config["projection_dim"]
        eot = tok.token_to_id("<|endoftext|>")
        ids = np.full((2, 77), eot, np.int64)
        mask = np.zeros((2, 77), np.int64)
        for row, text in enumerate(["a photo of a cat on the sofa", "two dogs running on a beach at sunset"]):
            enc = tok.encode(text).ids
            ids[row, : len(enc)] = enc
            mask[row, : len(enc)] = 1
        text_feeds = {"input_ids": ids, "attention_mask": mask}
        text_out, image_out = "text_embeds", "image_embeds"
    pixels = rng.standard_normal((2, 3, size, size), dtype=np.float32)
    towers = [("vision_model", {"pixel_values": pixels}, image_out), ("text_model", text_feeds, text_out)]
    for tower, feeds, out_name in towers:
        reference = None
        for variant, suffix in (("fp32", ""), ("fp16", "_fp16"), ("int8", "_quantized")):
            path = d / "onnx" / f"{tower}{suffix}.onnx"
            t0 = time.monotonic()
            s = _session(path)
            load = time.monotonic() - t0
            names = [o.name for o in s.get_outputs()]
            run_feeds = {k: (v.astype(np.float16) if variant == "fp16" and v.dtype == np.float32 else v) for k, v in feeds.items()}
            t0 = time.monotonic()
            out = s.run([out_name], run_feeds)[0]
            run = time.monotonic() - t0
            del s
            gc.collect()
            ok = out.shape == (2, dim) and bool(np.isfinite(out).all()) and (out.dtype == (np.float16 if variant == "fp16" else np.float32))
            line = f"  {tower:12} {variant}: outputs {names}, {out_name} {out.dtype} {out.shape}, finite {bool(np.isfinite(out).all())}, load {load:.1f} s, batch-2 run {run:.2f} s"
            if variant == "fp32":
                reference = out
            else:
                cos = _cosines(out, reference)
                line += f", cosine to fp32 {cos.min():.6f}/{cos.max():.6f} (min/max of 2)"
            print(("  ok  " if ok else "  FAIL") + line)
            if not ok:
                failures.append(f"{d.name} {tower} {variant}")
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"where the model directories go (default {DEFAULT_OUT})")
    parser.add_argument("--only", nargs="+", choices=list(MODELS), help="generate only these models")
    parser.add_argument("--force", action="store_true", help="regenerate even complete model directories")
    parser.add_argument("--check", action="store_true", help="run every tower and variant in ONNX Runtime and compare to fp32")
    args = parser.parse_args()
    names = args.only or list(MODELS)
    for name in names:
        if not generate(args.out, name, args.force) and not args.check:
            report_sizes(args.out / name)
    if args.check:
        failures = []
        for name in names:
            print(f"{name}:")
            failures += check_model(args.out / name, MODELS[name][2])
        if failures:
            print(f"CHECK FAILED: {failures}", file=sys.stderr)
            return 1
        print("check passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
