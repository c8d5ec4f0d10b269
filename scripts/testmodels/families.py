"""The per-family test models: tiny random-weight towers with the real exports' interfaces.

One function per (family, layout) writes a model directory the way the real export is laid out:

| family   | real exports                                         | what differs from CLIP                  |
|----------|------------------------------------------------------|-----------------------------------------|
| siglip   | Xenova/siglip-*, immich-app/ViT-B-16-SigLIP__webli   | T5 Unigram, 64 tokens padded with </s>, |
|          |                                                      | no mask, last-position pooling, MAP     |
|          |                                                      | head, squash + mean=std=0.5             |
| siglip2  | onnx-community/siglip2-*, immich-app/…SigLIP2__webli | Gemma BPE (byte fallback), lower-cased  |
| xlmr     | immich-app/XLM-Roberta-Base-ViT-B-32__laion5b…       | XLM-R Unigram, mean pooling over ids≠pad|
| nllb     | immich-app/nllb-clip-base-siglip__v1                 | NLLB BPE + FLORES-200 language token,   |
|          |                                                      | first-token pooling, SigLIP image tower |
| mclip    | immich-app/XLM-Roberta-Large-Vit-B-32                | input_ids + attention_mask, mean pooling|
|          |                                                      | inside the graph                        |

Interfaces, as the real files have them:
- Hugging Face (Xenova / onnx-community / optimum): `onnx/vision_model.onnx` (`pixel_values` float32
  [batch, 3, S, S] → `last_hidden_state`, `pooler_output` for SigLIP, `image_embeds` for CLIP-style
  projection models), `onnx/text_model.onnx` (`input_ids` int64 [batch, sequence], plus
  `attention_mask` where the model uses one), not normalised; variants beside them:
  `*_fp16.onnx` (float16 weights, inputs and outputs), `*_quantized.onnx` (onnxruntime
  `quantize_dynamic`, int8 weights, float32 I/O); big towers keep their weights in `*.onnx_data`.
- Immich (open_clip export, `torch.onnx.export` without dynamic axes): batch fixed at 1,
  `visual/model.onnx` (`image` [1, 3, S, S] → `embedding` [1, D], L2-normalised),
  `textual/model.onnx` (`text` int32 [1, L] → `embedding`; M-CLIP: `input_ids` + `attention_mask`
  int32), `config.json` = the open_clip model config, `visual/preprocess_cfg.json`, the tokenizer
  files in `textual/`.

The weights are random (seeded); what the tests check is that Magpie drives each interface exactly
as the reference does, and that search works end to end.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import family_tokenizers as toks
from graphs import Graph, activation, attention, block, feed_forward, l2_normalize, layer_norm, linear, padding_mask, save_model, sequence_length, vision_tower

SIGLIP_MEAN = [0.5, 0.5, 0.5]
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]

# Tiny shapes; each family gets its own embedding size so a mix-up of towers cannot go unnoticed.
SIGLIP = dict(vision=dict(size=64, patch=16, width=48, layers=2, heads=4, mlp=192, std=0.1), text=dict(width=48, layers=2, heads=4, mlp=192, dim=48, std=0.1, context=64))
SIGLIP2 = dict(vision=dict(size=64, patch=16, width=40, layers=2, heads=4, mlp=160, std=0.1), text=dict(width=40, layers=2, heads=4, mlp=160, dim=40, std=0.1, context=64))
NLLB = dict(vision=dict(size=96, patch=16, width=56, layers=2, heads=4, mlp=224, std=0.1), text=dict(width=64, layers=2, heads=4, mlp=256, dim=56, std=0.1, context=77))
XLMR = dict(vision=dict(size=64, patch=32, width=64, layers=2, heads=4, mlp=256, dim=24, std=0.125), text=dict(width=64, layers=2, heads=4, mlp=256, dim=24, std=0.1, context=77))
MCLIP = dict(vision=dict(size=64, patch=32, width=64, layers=2, heads=4, mlp=256, dim=36, std=0.125), text=dict(width=64, layers=2, heads=4, mlp=256, dim=36, std=0.1, context=77))


def write_json(path: Path, value) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _batch_dim(g: Graph, x: str) -> str:
    return g.op("Slice", [g.op("Shape", [x]), g.ints([0]), g.ints([1])])


# --------------------------------------------------------------------------------------------------
# Towers
# --------------------------------------------------------------------------------------------------


def siglip_vision(cfg: dict, seed: int, input_name: str, outputs: dict, batch, normalize: bool) -> onnx.ModelProto:
    """SigLIP ViT (timm `vit_*_siglip_*`): patch conv, position embedding (no class token), pre-LN
    blocks with tanh-GELU, final LN, MAP head (a learned probe attends over the tokens, then an
    MLP), no projection: the embedding size is the width. `outputs` maps role → name
    (`pooled`, optionally `hidden`)."""
    size, patch, width, layers, heads, mlp, std = (cfg[k] for k in ("size", "patch", "width", "layers", "heads", "mlp", "std"))
    g = Graph(np.random.default_rng(seed))
    tokens = (size // patch) ** 2
    x = g.op("Conv", [input_name, g.param("patch_embed.weight", (width, 3, patch, patch), std), g.param("patch_embed.bias", (width,), 0.02)], kernel_shape=[patch, patch], strides=[patch, patch])
    x = g.op("Transpose", [g.op("Reshape", [x, g.ints([0, width, -1])])], perm=[0, 2, 1])
    x = g.op("Add", [x, g.param("pos_embed", (tokens, width), 0.02)])
    for i in range(layers):
        x = block(g, x, f"blocks.{i}", width, heads, mlp, std, None, "gelu_tanh")
    x = layer_norm(g, x, "norm", width)
    if "hidden" in outputs:
        g.op("Identity", [x], out=outputs["hidden"])
    probe = g.op("Expand", [g.param("head.probe", (1, 1, width), 0.5), g.op("Concat", [_batch_dim(g, input_name), g.ints([1, width])], axis=0)])
    pooled = attention(g, probe, x, "head.attn", width, heads, std, None)
    pooled = g.op("Add", [pooled, feed_forward(g, layer_norm(g, pooled, "head.norm", width), "head.mlp", width, mlp, std, "gelu_tanh")])
    pooled = g.op("Squeeze", [pooled, g.ints([1])])
    g.op("Identity", [l2_normalize(g, pooled) if normalize else pooled], out=outputs["pooled"])
    ins = [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [batch, 3, size, size])]
    outs = []
    if "hidden" in outputs:
        outs.append(helper.make_tensor_value_info(outputs["hidden"], TensorProto.FLOAT, [batch, tokens, width]))
    outs.append(helper.make_tensor_value_info(outputs["pooled"], TensorProto.FLOAT, [batch, width]))
    return g.model("vision_model", ins, outs)


def _token_embedding(g: Graph, ids: str, vocab: int, width: int, std: float) -> str:
    return g.op("Gather", [g.param("embeddings.word_embeddings.weight", (vocab, width), std), ids], axis=0)


def siglip_text(cfg: dict, vocab: int, seed: int, ids_name: str, ids_type: int, outputs: dict, batch, sequence) -> onnx.ModelProto:
    """SigLIP text transformer: token + learned position embedding, bidirectional pre-LN blocks
    with no attention mask (the padding is part of the input), final LN, the LAST position pooled,
    a linear head with bias. `sequence` is the fixed length or a symbolic name."""
    width, layers, heads, mlp, dim, std, context = (cfg[k] for k in ("width", "layers", "heads", "mlp", "dim", "std", "context"))
    g = Graph(np.random.default_rng(seed))
    ids = g.op("Cast", [ids_name], to=TensorProto.INT64) if ids_type != TensorProto.INT64 else ids_name
    x = _token_embedding(g, ids, vocab, width, 0.5)
    positions = g.param("embeddings.position_embedding.weight", (context, width), 0.1)
    if not isinstance(sequence, int):
        positions = g.op("Slice", [positions, g.ints([0]), sequence_length(g, ids), g.ints([0])])
    x = g.op("Add", [x, positions])
    for i in range(layers):
        x = block(g, x, f"encoder.layers.{i}", width, heads, mlp, std, None, "gelu_tanh")
    x = layer_norm(g, x, "final_layer_norm", width)
    if "hidden" in outputs:
        g.op("Identity", [x], out=outputs["hidden"])
    last = g.op("Gather", [x, g.const(np.int64(-1))], axis=1)  # [B,W]
    pooled = linear(g, last, "head", width, dim, width**-0.5)
    g.op("Identity", [l2_normalize(g, pooled) if outputs.get("normalize") else pooled], out=outputs["pooled"])
    ins = [helper.make_tensor_value_info(ids_name, ids_type, [batch, sequence])]
    outs = []
    if "hidden" in outputs:
        outs.append(helper.make_tensor_value_info(outputs["hidden"], TensorProto.FLOAT, [batch, sequence, width]))
    outs.append(helper.make_tensor_value_info(outputs["pooled"], TensorProto.FLOAT, [batch, dim]))
    return g.model("text_model", ins, outs)


def _keep_from_ids(g: Graph, ids: str, pad_id: int) -> str:
    """1 where ids ≠ pad, else 0 (int64) — how open_clip's HF text encoders build their mask."""
    return g.op("Cast", [g.op("Not", [g.op("Equal", [ids, g.const(np.int64(pad_id))])])], to=TensorProto.INT64)


def _padded_positions(g: Graph, keep: str, pad_id: int) -> str:
    """RoBERTa / M2M-100 position ids: cumsum(keep) · keep + padding_idx."""
    return g.op("Add", [g.op("Mul", [g.op("CumSum", [keep, g.const(np.int64(1))]), keep]), g.const(np.int64(pad_id))])


def _sinusoidal(rows: int, width: int, padding_idx: int) -> np.ndarray:
    half = width // 2
    freq = np.exp(np.arange(half, dtype=np.float64) * -(np.log(10000.0) / (half - 1)))
    angles = np.arange(rows, dtype=np.float64)[:, None] * freq[None, :]
    table = np.concatenate([np.sin(angles), np.cos(angles)], axis=1).astype(np.float32)
    table[padding_idx] = 0
    return table


def encoder_text(cfg: dict, vocab: int, seed: int, kind: str, ids_name: str, ids_type: int, mask_name: str | None, output_name: str, batch, sequence, normalize: bool, pad_id: int = 1) -> onnx.ModelProto:
    """The multilingual text encoders.

    kind = "xlmr": XLM-RoBERTa (post-LN, GELU, learned positions offset by the pad id), mean pooling
           over the mask, open_clip's two-layer MLP projection.
    kind = "nllb": the NLLB / M2M-100 encoder (√width-scaled embeddings, sinusoidal positions,
           pre-LN, ReLU, final LN), the first token (the language code) pooled, linear projection.
    kind = "mclip": XLM-R large as M-CLIP exports it: the mask is an input, mean pooling, a linear
           transformation with bias.
    Without `mask_name` the mask is computed inside the graph as ids ≠ pad (open_clip)."""
    width, layers, heads, mlp, dim, std = (cfg[k] for k in ("width", "layers", "heads", "mlp", "dim", "std"))
    g = Graph(np.random.default_rng(seed))
    ids = g.op("Cast", [ids_name], to=TensorProto.INT64) if ids_type != TensorProto.INT64 else ids_name
    keep = g.op("Cast", [mask_name], to=TensorProto.INT64) if mask_name else _keep_from_ids(g, ids, pad_id)
    positions = _padded_positions(g, keep, pad_id)
    rows = cfg["context"] + pad_id + 2
    x = _token_embedding(g, ids, vocab, width, 0.5)
    if kind == "nllb":
        x = g.op("Mul", [x, g.const(np.float32(width**0.5 * 0.1))])  # keeps random activations tame
        x = g.op("Add", [x, g.op("Gather", [g.const(_sinusoidal(rows, width, pad_id), "embed_positions"), positions], axis=0)])
    else:
        x = g.op("Add", [x, g.op("Gather", [g.param("embeddings.position_embeddings.weight", (rows, width), 0.1), positions], axis=0)])
        x = g.op("Add", [x, g.param("embeddings.token_type_embeddings", (width,), 0.1)])
        x = layer_norm(g, x, "embeddings.LayerNorm", width)
    mask = padding_mask(g, keep)
    for i in range(layers):
        if kind == "nllb":
            x = block(g, x, f"layers.{i}", width, heads, mlp, std, mask, "relu")
        else:
            x = block(g, x, f"encoder.layer.{i}", width, heads, mlp, std, mask, "gelu", post_ln=True)
    if kind == "nllb":
        x = layer_norm(g, x, "layer_norm", width)
        pooled = g.op("Gather", [x, g.const(np.int64(0))], axis=1)
        out = linear(g, pooled, "proj", width, dim, width**-0.5, bias=False)
    else:
        weights = g.op("Unsqueeze", [g.op("Cast", [keep], to=TensorProto.FLOAT), g.ints([2])])
        summed = g.op("ReduceSum", [g.op("Mul", [x, weights]), g.ints([1])], keepdims=0)
        pooled = g.op("Div", [summed, g.op("ReduceSum", [weights, g.ints([1])], keepdims=0)])
        if kind == "xlmr":
            hidden = (width + dim) // 2
            out = linear(g, activation(g, linear(g, pooled, "proj.0", width, hidden, width**-0.5, bias=False), "gelu"), "proj.2", hidden, dim, hidden**-0.5, bias=False)
        else:
            out = linear(g, pooled, "LinearTransformation", width, dim, width**-0.5)
    g.op("Identity", [l2_normalize(g, out) if normalize else out], out=output_name)
    ins = [helper.make_tensor_value_info(ids_name, ids_type, [batch, sequence])]
    if mask_name:
        ins.append(helper.make_tensor_value_info(mask_name, ids_type, [batch, sequence]))
    outs = [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, [batch, dim])]
    return g.model("text_model", ins, outs)


# --------------------------------------------------------------------------------------------------
# Variants: fp16 and int8 exports, external data, a broken fp16 export
# --------------------------------------------------------------------------------------------------


def to_fp16(model: onnx.ModelProto) -> onnx.ModelProto:
    """The tower with float16 weights, inputs and outputs, like `*_fp16.onnx` exports.

    Float inputs enter through an fp16 operation (a Mul by 1) before widening to float32, and the
    weights are stored as float16 and widened once: ONNX Runtime's CPU provider lacks fp16 kernels
    for some ops, so the arithmetic stays in float32, while everything a caller sees — input and
    output element types, weight storage — is what a real fp16 export has."""
    m = copy.deepcopy(model)
    graph = m.graph
    casts = []
    new_inits = []
    for init in graph.initializer:
        if init.data_type == TensorProto.FLOAT:
            half = numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16), init.name + "__fp16")
            new_inits.append(half)
            casts.append(helper.make_node("Cast", [half.name], [init.name], to=TensorProto.FLOAT))
        else:
            new_inits.append(init)
    del graph.initializer[:]
    graph.initializer.extend(new_inits)
    front = []
    renames = {}
    one = numpy_helper.from_array(np.array(1.0, np.float16), "fp16_one")
    for value in graph.input:
        if value.type.tensor_type.elem_type == TensorProto.FLOAT:
            value.type.tensor_type.elem_type = TensorProto.FLOAT16
            wide = value.name + "__f32"
            renames[value.name] = wide
            front.append(helper.make_node("Mul", [value.name, one.name], [value.name + "__f16"]))
            front.append(helper.make_node("Cast", [value.name + "__f16"], [wide], to=TensorProto.FLOAT))
    if front:
        graph.initializer.append(one)
    back = []
    for value in graph.output:
        if value.type.tensor_type.elem_type == TensorProto.FLOAT:
            value.type.tensor_type.elem_type = TensorProto.FLOAT16
            inner = value.name + "__f32"
            for node in graph.node:
                for i, out in enumerate(node.output):
                    if out == value.name:
                        node.output[i] = inner
                for i, name in enumerate(node.input):
                    if name == value.name:
                        node.input[i] = inner
            back.append(helper.make_node("Cast", [inner], [value.name], to=TensorProto.FLOAT16))
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name in renames:
                node.input[i] = renames[name]
    nodes = casts + front + list(graph.node) + back
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.checker.check_model(m)
    return m


def fp16_declared_fp32(fp16_model: onnx.ModelProto) -> onnx.ModelProto:
    """A broken conversion: the weights and the first operation are float16, the declared input
    is float32. ONNX Runtime refuses it at load time (type mismatch in the first node)."""
    m = copy.deepcopy(fp16_model)
    for value in m.graph.input:
        if value.type.tensor_type.elem_type == TensorProto.FLOAT16:
            value.type.tensor_type.elem_type = TensorProto.FLOAT
    return m


def write_quantized(source: Path, target: Path) -> None:
    """onnxruntime's dynamic quantisation (int8 weights, float32 I/O): how `*_quantized.onnx` are
    made."""
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    logging.getLogger().setLevel(logging.ERROR)
    quantize_dynamic(str(source), str(target), weight_type=QuantType.QUInt8)


# --------------------------------------------------------------------------------------------------
# Configs
# --------------------------------------------------------------------------------------------------


def siglip_preprocessor(size: int) -> dict:
    return {
        "do_normalize": True,
        "do_rescale": True,
        "do_resize": True,
        "image_mean": SIGLIP_MEAN,
        "image_processor_type": "SiglipImageProcessor",
        "image_std": SIGLIP_MEAN,
        "processor_class": "SiglipProcessor",
        "resample": 3,
        "rescale_factor": 1 / 255,
        "size": {"height": size, "width": size},
    }


def clip_preprocessor(size: int) -> dict:
    return {
        "crop_size": {"height": size, "width": size},
        "do_center_crop": True,
        "do_convert_rgb": True,
        "do_normalize": True,
        "do_rescale": True,
        "do_resize": True,
        "image_mean": CLIP_MEAN,
        "image_processor_type": "CLIPImageProcessor",
        "image_std": CLIP_STD,
        "resample": 3,
        "rescale_factor": 1 / 255,
        "size": {"shortest_edge": size},
    }


def immich_preprocess(size: int, squash: bool) -> dict:
    mean, std = (SIGLIP_MEAN, SIGLIP_MEAN) if squash else (CLIP_MEAN, CLIP_STD)
    return {"size": [size, size], "mode": "RGB", "mean": mean, "std": std, "interpolation": "bicubic", "resize_mode": "squash" if squash else "shortest", "fill_color": 0}


def hf_siglip_config(family: dict, vocab: int, pad_id: int, eos_id: int) -> dict:
    v, t = family["vision"], family["text"]
    return {
        "architectures": ["SiglipModel"],
        "model_type": "siglip",
        "initializer_factor": 1.0,
        "text_config": {
            "model_type": "siglip_text_model",
            "vocab_size": vocab,
            "hidden_size": t["width"],
            "intermediate_size": t["mlp"],
            "num_attention_heads": t["heads"],
            "num_hidden_layers": t["layers"],
            "max_position_embeddings": t["context"],
            "hidden_act": "gelu_pytorch_tanh",
            "layer_norm_eps": 1e-6,
            "pad_token_id": pad_id,
            "eos_token_id": eos_id,
            "projection_size": t["dim"],
        },
        "vision_config": {
            "model_type": "siglip_vision_model",
            "image_size": v["size"],
            "patch_size": v["patch"],
            "num_channels": 3,
            "hidden_size": v["width"],
            "intermediate_size": v["mlp"],
            "num_attention_heads": v["heads"],
            "num_hidden_layers": v["layers"],
            "hidden_act": "gelu_pytorch_tanh",
            "layer_norm_eps": 1e-6,
        },
        "torch_dtype": "float32",
    }


def immich_siglip_config(family: dict, vocab: int, tokenizer_name: str, canonicalize: bool) -> dict:
    v, t = family["vision"], family["text"]
    text_cfg = {"context_length": t["context"], "vocab_size": vocab, "hf_tokenizer_name": tokenizer_name}
    if canonicalize:
        text_cfg["tokenizer_kwargs"] = {"clean": "canonicalize"}
    text_cfg.update({"width": t["width"], "heads": t["heads"], "layers": t["layers"], "no_causal_mask": True, "proj_bias": True, "pool_type": "last", "norm_kwargs": {"eps": 1e-6}})
    return {
        "embed_dim": t["dim"],
        "init_logit_bias": -10,
        "custom_text": True,
        "vision_cfg": {"image_size": v["size"], "timm_model_name": f"vit_base_patch16_siglip_{v['size']}", "timm_model_pretrained": False, "timm_pool": "map", "timm_proj": "none"},
        "text_cfg": text_cfg,
    }


def clip_vision_immich_cfg(v: dict) -> dict:
    return {"image_size": v["size"], "layers": v["layers"], "width": v["width"], "patch_size": v["patch"]}


# --------------------------------------------------------------------------------------------------
# Model directories
# --------------------------------------------------------------------------------------------------


def _token_id(directory: Path, token: str) -> int:
    from tokenizers import Tokenizer

    tid = Tokenizer.from_file(str(directory / "tokenizer.json")).token_to_id(token)
    if tid is None:
        raise RuntimeError(f"{directory}: no token {token!r}")
    return tid


def make_siglip_hf(d: Path, words: list[str]) -> dict:
    vocab = toks.write_siglip(d, words, slow=True)
    f = SIGLIP
    save_model(siglip_vision(f["vision"], 4001, "pixel_values", {"hidden": "last_hidden_state", "pooled": "pooler_output"}, "batch_size", False), d / "onnx" / "vision_model.onnx")
    save_model(siglip_text(f["text"], vocab, 4002, "input_ids", TensorProto.INT64, {"hidden": "last_hidden_state", "pooled": "pooler_output"}, "batch_size", "sequence_length"), d / "onnx" / "text_model.onnx")
    write_json(d / "config.json", hf_siglip_config(f, vocab, 1, 1))
    write_json(d / "preprocessor_config.json", siglip_preprocessor(f["vision"]["size"]))
    return {}


def make_siglip_immich(d: Path, words: list[str]) -> dict:
    vocab = toks.write_siglip(d / "textual", words, slow=False)
    f = SIGLIP
    save_model(siglip_vision(f["vision"], 4101, "image", {"pooled": "embedding"}, 1, True), d / "visual" / "model.onnx")
    save_model(siglip_text(f["text"], vocab, 4102, "text", TensorProto.INT32, {"pooled": "embedding", "normalize": True}, 1, f["text"]["context"]), d / "textual" / "model.onnx")
    write_json(d / "visual" / "preprocess_cfg.json", immich_preprocess(f["vision"]["size"], squash=True))
    write_json(d / "config.json", immich_siglip_config(f, vocab, "timm/ViT-B-16-SigLIP", canonicalize=False))
    return {}


def make_siglip2_hf(d: Path, words: list[str]) -> dict:
    """SigLIP2 in the onnx-community layout, with every variant such a repo carries: fp32 (the text
    tower's weights in `text_model.onnx_data`), fp16 and quantised int8."""
    vocab = toks.write_gemma(d, words)
    f = SIGLIP2
    onnx_dir = d / "onnx"
    vision = siglip_vision(f["vision"], 5001, "pixel_values", {"hidden": "last_hidden_state", "pooled": "pooler_output"}, "batch_size", False)
    text = siglip_text(f["text"], vocab, 5002, "input_ids", TensorProto.INT64, {"hidden": "last_hidden_state", "pooled": "pooler_output"}, "batch_size", "sequence_length")
    save_model(to_fp16(vision), onnx_dir / "vision_model_fp16.onnx")
    save_model(to_fp16(text), onnx_dir / "text_model_fp16.onnx")
    save_model(vision, onnx_dir / "vision_model.onnx")
    save_model(copy.deepcopy(text), onnx_dir / "text_model.onnx", external_data="text_model.onnx_data")
    save_model(text, onnx_dir / ".text_model_inline.onnx")  # quantize_dynamic wants the weights inline
    write_quantized(onnx_dir / "vision_model.onnx", onnx_dir / "vision_model_quantized.onnx")
    write_quantized(onnx_dir / ".text_model_inline.onnx", onnx_dir / "text_model_quantized.onnx")
    (onnx_dir / ".text_model_inline.onnx").unlink()
    write_json(d / "config.json", hf_siglip_config(f, vocab, 0, 1))
    write_json(d / "preprocessor_config.json", siglip_preprocessor(f["vision"]["size"]))
    return {}


def make_siglip2_immich(d: Path, words: list[str]) -> dict:
    vocab = toks.write_gemma(d / "textual", words)
    f = SIGLIP2
    save_model(siglip_vision(f["vision"], 5101, "image", {"pooled": "embedding"}, 1, True), d / "visual" / "model.onnx")
    save_model(siglip_text(f["text"], vocab, 5102, "text", TensorProto.INT32, {"pooled": "embedding", "normalize": True}, 1, f["text"]["context"]), d / "textual" / "model.onnx")
    write_json(d / "visual" / "preprocess_cfg.json", immich_preprocess(f["vision"]["size"], squash=True))
    write_json(d / "config.json", immich_siglip_config(f, vocab, "timm/ViT-B-16-SigLIP2", canonicalize=True))
    return {}


def make_broken_fp16(d: Path, words: list[str]) -> dict:
    """A SigLIP2 Hugging Face directory whose fp16 image tower declares a float32 input."""
    vocab = toks.write_gemma(d, words)
    f = SIGLIP2
    vision = siglip_vision(f["vision"], 5201, "pixel_values", {"hidden": "last_hidden_state", "pooled": "pooler_output"}, "batch_size", False)
    text = siglip_text(f["text"], vocab, 5202, "input_ids", TensorProto.INT64, {"hidden": "last_hidden_state", "pooled": "pooler_output"}, "batch_size", "sequence_length")
    save_model(fp16_declared_fp32(to_fp16(vision)), d / "onnx" / "vision_model_fp16.onnx", )
    save_model(to_fp16(text), d / "onnx" / "text_model_fp16.onnx")
    write_json(d / "config.json", hf_siglip_config(f, vocab, 0, 1))
    write_json(d / "preprocessor_config.json", siglip_preprocessor(f["vision"]["size"]))
    return {}


def _multilingual_hf(d: Path, family: dict, seeds: tuple[int, int], text_kind: str, vocab: int, pad_id: int, config: dict, squash_siglip: bool) -> None:
    v = family["vision"]
    if squash_siglip:
        save_model(siglip_vision(v, seeds[0], "pixel_values", {"hidden": "last_hidden_state", "pooled": "image_embeds"}, "batch_size", False), d / "onnx" / "vision_model.onnx")
        write_json(d / "preprocessor_config.json", siglip_preprocessor(v["size"]))
    else:
        save_model(vision_tower(v, seeds[0], "pixel_values", "image_embeds", "last_hidden_state"), d / "onnx" / "vision_model.onnx")
        write_json(d / "preprocessor_config.json", clip_preprocessor(v["size"]))
    save_model(encoder_text(family["text"], vocab, seeds[1], text_kind, "input_ids", TensorProto.INT64, "attention_mask", "text_embeds", "batch_size", "sequence_length", False, pad_id), d / "onnx" / "text_model.onnx")
    write_json(d / "config.json", config)


def make_xlmr_hf(d: Path, words: list[str]) -> dict:
    vocab = toks.write_xlmr(d, words)
    f = XLMR
    config = {
        "architectures": ["CLIPModel"],
        "model_type": "clip",
        "projection_dim": f["text"]["dim"],
        "text_config": {"model_type": "xlm-roberta", "vocab_size": vocab, "hidden_size": f["text"]["width"], "context_length": f["text"]["context"], "max_position_embeddings": 514, "pad_token_id": 1},
        "vision_config": {"model_type": "clip_vision_model", "image_size": f["vision"]["size"], "patch_size": f["vision"]["patch"], "hidden_size": f["vision"]["width"]},
    }
    _multilingual_hf(d, f, (6001, 6002), "xlmr", vocab, 1, config, squash_siglip=False)
    return {}


def make_xlmr_immich(d: Path, words: list[str]) -> dict:
    vocab = toks.write_xlmr(d / "textual", words)
    f = XLMR
    save_model(vision_tower(f["vision"], 6101, "image", "embedding", None, batch_dim=1, normalize=True), d / "visual" / "model.onnx")
    save_model(encoder_text(f["text"], vocab, 6102, "xlmr", "text", TensorProto.INT32, None, "embedding", 1, f["text"]["context"], True), d / "textual" / "model.onnx")
    write_json(d / "visual" / "preprocess_cfg.json", immich_preprocess(f["vision"]["size"], squash=False))
    write_json(d / "config.json", {"embed_dim": f["text"]["dim"], "vision_cfg": clip_vision_immich_cfg(f["vision"]), "text_cfg": {"hf_model_name": "xlm-roberta-base", "hf_tokenizer_name": "xlm-roberta-base", "proj": "mlp", "pooler_type": "mean_pooler"}})
    return {}


def make_nllb_hf(d: Path, words: list[str]) -> dict:
    vocab = toks.write_nllb(d, words)
    f = NLLB
    config = {
        "architectures": ["CLIPModel"],
        "model_type": "siglip",
        "projection_dim": f["text"]["dim"],
        "text_config": {"model_type": "m2m_100", "vocab_size": vocab, "d_model": f["text"]["width"], "context_length": f["text"]["context"], "max_position_embeddings": 1024, "pad_token_id": 1},
        "vision_config": {"model_type": "siglip_vision_model", "image_size": f["vision"]["size"], "patch_size": f["vision"]["patch"], "hidden_size": f["vision"]["width"]},
    }
    _multilingual_hf(d, f, (7001, 7002), "nllb", vocab, 1, config, squash_siglip=True)
    return {}


def make_nllb_immich(d: Path, words: list[str]) -> dict:
    """NLLB-SigLIP as Immich ships it; the image tower keeps its weights in `model.onnx.data`."""
    vocab = toks.write_nllb(d / "textual", words)
    f = NLLB
    save_model(siglip_vision(f["vision"], 7101, "image", {"pooled": "embedding"}, 1, True), d / "visual" / "model.onnx", external_data="model.onnx.data")
    save_model(encoder_text(f["text"], vocab, 7102, "nllb", "text", TensorProto.INT32, None, "embedding", 1, f["text"]["context"], True), d / "textual" / "model.onnx")
    write_json(d / "visual" / "preprocess_cfg.json", immich_preprocess(f["vision"]["size"], squash=True))
    v = f["vision"]
    write_json(
        d / "config.json",
        {
            "embed_dim": f["text"]["dim"],
            "custom_text": True,
            "init_logit_bias": -10,
            "vision_cfg": {"image_size": v["size"], "timm_model_name": "vit_base_patch16_siglip_384", "timm_model_pretrained": False, "timm_pool": "map", "timm_proj": "none"},
            "text_cfg": {"hf_model_name": "facebook/nllb-200-distilled-600M", "hf_tokenizer_name": "facebook/nllb-200-distilled-600M", "hf_proj_type": "linear", "hf_pooler_type": "cls_pooler"},
        },
    )
    return {}


def make_mclip_hf(d: Path, words: list[str]) -> dict:
    vocab = toks.write_xlmr(d, words)
    f = MCLIP
    config = {"model_type": "M-CLIP", "modelBase": "xlm-roberta-large", "transformerDimensions": f["text"]["width"], "numDims": f["text"]["dim"], "context_length": f["text"]["context"], "vision_config": {"image_size": f["vision"]["size"]}}
    _multilingual_hf(d, f, (8001, 8002), "mclip", vocab, 1, config, squash_siglip=False)
    return {}


def make_mclip_immich(d: Path, words: list[str]) -> dict:
    """M-CLIP as Immich exports it: `config.json` is the *image* model's open_clip config (ViT-B-32,
    whose text part does not apply), the text tower takes `input_ids` + `attention_mask`."""
    vocab = toks.write_xlmr(d / "textual", words)
    f = MCLIP
    save_model(vision_tower(f["vision"], 8101, "image", "embedding", None, batch_dim=1, normalize=True), d / "visual" / "model.onnx")
    save_model(encoder_text(f["text"], vocab, 8102, "mclip", "input_ids", TensorProto.INT32, "attention_mask", "embedding", 1, f["text"]["context"], True), d / "textual" / "model.onnx")
    write_json(d / "visual" / "preprocess_cfg.json", immich_preprocess(f["vision"]["size"], squash=False))
    write_json(d / "config.json", {"embed_dim": f["vision"]["dim"], "vision_cfg": clip_vision_immich_cfg(f["vision"]), "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 512, "heads": 8, "layers": 12}})
    return {}


HF_FILES = ["onnx/vision_model.onnx", "onnx/text_model.onnx", "tokenizer.json", "tokenizer_config.json", "config.json", "preprocessor_config.json"]
IMMICH_FILES = ["visual/model.onnx", "visual/preprocess_cfg.json", "textual/model.onnx", "textual/tokenizer.json", "textual/tokenizer_config.json", "config.json"]

# name: (builder, files that must exist)
FAMILY_MODELS = {
    "siglip-hf": (make_siglip_hf, HF_FILES + ["spiece.model"]),
    "siglip-immich": (make_siglip_immich, IMMICH_FILES),
    "siglip2-hf": (make_siglip2_hf, HF_FILES + ["onnx/text_model.onnx_data", "onnx/vision_model_fp16.onnx", "onnx/text_model_fp16.onnx", "onnx/vision_model_quantized.onnx", "onnx/text_model_quantized.onnx"]),
    "siglip2-immich": (make_siglip2_immich, IMMICH_FILES),
    "xlmr-hf": (make_xlmr_hf, HF_FILES),
    "xlmr-immich": (make_xlmr_immich, IMMICH_FILES),
    "nllb-hf": (make_nllb_hf, HF_FILES),
    "nllb-immich": (make_nllb_immich, IMMICH_FILES + ["visual/model.onnx.data"]),
    "mclip-hf": (make_mclip_hf, HF_FILES),
    "mclip-immich": (make_mclip_immich, IMMICH_FILES),
    "broken-fp16-as-fp32": (make_broken_fp16, ["onnx/vision_model_fp16.onnx", "onnx/text_model_fp16.onnx", "tokenizer.json", "config.json", "preprocessor_config.json"]),
}
