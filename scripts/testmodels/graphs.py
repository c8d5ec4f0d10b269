"""ONNX graph building for the self-made test models: a tiny helper over `onnx.helper` and the CLIP
towers (ViT image tower, causal text transformer) that `make_test_models.py` and the per-family
builders in `families.py` share.

Why a module of its own: the family builders (SigLIP, SigLIP2, XLM-R, NLLB, M-CLIP) reuse the CLIP
image tower and the layer helpers; keeping them here lets both scripts import one definition.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8  # oldest IR that carries opset 17; loads in any ONNX Runtime from 1.14 on
CONTEXT = 77
# --------------------------------------------------------------------------------------------------
# ONNX graph building
# --------------------------------------------------------------------------------------------------


class Graph:
    """A tiny helper over onnx.helper: named constants, one-output ops, fresh names."""

    def __init__(self, rng: np.random.Generator | None = None):
        self.nodes = []
        self.inits = []
        self.rng = rng
        self.count = 0

    def fresh(self, hint: str) -> str:
        self.count += 1
        return f"{hint}_{self.count}"

    def const(self, array, name: str | None = None) -> str:
        array = np.asarray(array)
        if array.dtype == np.float64:
            array = array.astype(np.float32)
        name = name or self.fresh("const")
        self.inits.append(numpy_helper.from_array(array, name))
        return name

    def ints(self, values) -> str:
        return self.const(np.asarray(values, dtype=np.int64))

    def param(self, name: str, shape, std: float, mean: float = 0.0) -> str:
        values = self.rng.standard_normal(shape, dtype=np.float32) * np.float32(std)
        if mean:
            values += np.float32(mean)
        return self.const(values, name)

    def op(self, op_type: str, inputs, out: str | None = None, **attrs) -> str:
        out = out or self.fresh(op_type.lower())
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], **attrs))
        return out

    def model(self, name: str, inputs, outputs) -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, name, inputs, outputs, self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="magpie-make-test-models")
        model.ir_version = IR_VERSION
        onnx.checker.check_model(model)
        return model


def layer_norm(g: Graph, x: str, prefix: str, width: int) -> str:
    gamma = g.param(f"{prefix}.weight", (width,), 0.02, mean=1.0)
    beta = g.param(f"{prefix}.bias", (width,), 0.02)
    return g.op("LayerNormalization", [x, gamma, beta], axis=-1, epsilon=1e-5)


def linear(g: Graph, x: str, prefix: str, n_in: int, n_out: int, std: float, bias: bool = True) -> str:
    y = g.op("MatMul", [x, g.param(f"{prefix}.weight", (n_in, n_out), std)])
    if bias:
        y = g.op("Add", [y, g.param(f"{prefix}.bias", (n_out,), 0.02)])
    return y


def encoder_layer(g: Graph, x: str, prefix: str, width: int, heads: int, mlp: int, std: float, mask: str | None) -> str:
    """One pre-LN CLIP transformer block: x + attn(ln1(x)), then x + mlp(ln2(x)) with quick_gelu."""
    head_dim = width // heads
    h = layer_norm(g, x, f"{prefix}.layer_norm1", width)
    split = g.ints([0, 0, heads, head_dim])
    q = g.op("Reshape", [linear(g, h, f"{prefix}.self_attn.q_proj", width, width, std), split])
    k = g.op("Reshape", [linear(g, h, f"{prefix}.self_attn.k_proj", width, width, std), split])
    v = g.op("Reshape", [linear(g, h, f"{prefix}.self_attn.v_proj", width, width, std), split])
    q = g.op("Transpose", [q], perm=[0, 2, 1, 3])  # [B,H,T,D]
    k = g.op("Transpose", [k], perm=[0, 2, 3, 1])  # [B,H,D,T]
    v = g.op("Transpose", [v], perm=[0, 2, 1, 3])
    scores = g.op("Mul", [g.op("MatMul", [q, k]), g.const(np.float32(head_dim**-0.5))])
    if mask is not None:
        scores = g.op("Add", [scores, mask])
    probs = g.op("Softmax", [scores], axis=-1)
    att = g.op("Transpose", [g.op("MatMul", [probs, v])], perm=[0, 2, 1, 3])
    att = g.op("Reshape", [att, g.ints([0, 0, width])])
    x = g.op("Add", [x, linear(g, att, f"{prefix}.self_attn.out_proj", width, width, std)])
    h = layer_norm(g, x, f"{prefix}.layer_norm2", width)
    h = linear(g, h, f"{prefix}.mlp.fc1", width, mlp, std)
    h = g.op("Mul", [h, g.op("Sigmoid", [g.op("Mul", [h, g.const(np.float32(1.702))])])])
    h = linear(g, h, f"{prefix}.mlp.fc2", mlp, width, std * (width / mlp) ** 0.5)
    return g.op("Add", [x, h])


def vision_tower(cfg: dict, seed: int, input_name: str, output_name: str, hidden_name: str | None, batch_dim="batch", normalize: bool = False) -> onnx.ModelProto:
    """CLIP ViT: conv patch embedding, class token, positions, pre-LN, blocks, post-LN on the class
    token, projection. Output is not normalised (like HF's `image_embeds`)."""
    size, patch, width, layers, heads, mlp, dim, std = (cfg[k] for k in ("size", "patch", "width", "layers", "heads", "mlp", "dim", "std"))
    g = Graph(np.random.default_rng(seed))
    grid = size // patch
    tokens = grid * grid + 1
    x = g.op("Conv", [input_name, g.param("embeddings.patch_embedding.weight", (width, 3, patch, patch), std)], kernel_shape=[patch, patch], strides=[patch, patch])
    x = g.op("Transpose", [g.op("Reshape", [x, g.ints([0, width, -1])])], perm=[0, 2, 1])  # [B,grid²,W]
    batch = g.op("Slice", [g.op("Shape", [input_name]), g.ints([0]), g.ints([1])])
    cls_shape = g.op("Concat", [batch, g.ints([1, width])], axis=0)
    cls = g.op("Expand", [g.param("embeddings.class_embedding", (1, 1, width), width**-0.5), cls_shape])
    x = g.op("Concat", [cls, x], axis=1)
    x = g.op("Add", [x, g.param("embeddings.position_embedding", (tokens, width), 0.02)])
    x = layer_norm(g, x, "pre_layrnorm", width)
    for i in range(layers):
        x = encoder_layer(g, x, f"encoder.layers.{i}", width, heads, mlp, std, None)
    outputs = []
    if hidden_name:
        g.op("Identity", [x], out=hidden_name)
    pooled = g.op("Squeeze", [g.op("Slice", [x, g.ints([0]), g.ints([1]), g.ints([1])]), g.ints([1])])  # [B,W]
    pooled = layer_norm(g, pooled, "post_layernorm", width)
    linear_out = linear(g, pooled, "visual_projection", width, dim, width**-0.5, bias=False)
    g.op("Identity", [l2_normalize(g, linear_out) if normalize else linear_out], out=output_name)
    inputs = [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [batch_dim, 3, size, size])]
    outputs.append(helper.make_tensor_value_info(output_name, TensorProto.FLOAT, [batch_dim, dim]))
    if hidden_name:
        outputs.append(helper.make_tensor_value_info(hidden_name, TensorProto.FLOAT, [batch_dim, tokens, width]))
    return g.model("vision_model", inputs, outputs)


def text_tower(cfg: dict, seed: int, ids_name: str, ids_type: int, mask_name: str | None, output_name: str, hidden_name: str | None, dynamic_sequence: bool = False) -> onnx.ModelProto:
    """CLIP text transformer: token + position embedding, causal (and padding-masked) pre-LN blocks,
    final LN, pooled at argmax(input_ids) (the end-of-text token, the highest id), projection.

    With `dynamic_sequence` the token axis is symbolic, as in Hugging Face / Xenova exports: the
    position embedding and the causal mask are sliced to the input's length, so a caller may send
    fewer than 77 tokens. Without it the input is fixed at 77 (as some exports are)."""
    vocab, width, layers, heads, mlp, dim, std = (cfg[k] for k in ("vocab", "width", "layers", "heads", "mlp", "dim", "std"))
    g = Graph(np.random.default_rng(seed))
    ids = g.op("Cast", [ids_name], to=TensorProto.INT64) if ids_type != TensorProto.INT64 else ids_name
    x = g.op("Gather", [g.param("embeddings.token_embedding.weight", (vocab, width), cfg["token_std"]), ids], axis=0)
    positions = g.param("embeddings.position_embedding.weight", (CONTEXT, width), 0.01)
    causal = np.triu(np.full((CONTEXT, CONTEXT), -1e9, dtype=np.float32), k=1)[None, None]
    mask = g.const(causal, "causal_mask")
    if dynamic_sequence:
        length = g.op("Slice", [g.op("Shape", [ids]), g.ints([1]), g.ints([2])])  # [T]
        positions = g.op("Slice", [positions, g.ints([0]), length, g.ints([0])])
        mask = g.op("Slice", [mask, g.ints([0, 0]), g.op("Concat", [length, length], axis=0), g.ints([2, 3])])
    x = g.op("Add", [x, positions])
    if mask_name:
        keep = g.op("Cast", [mask_name], to=TensorProto.FLOAT)
        pad = g.op("Mul", [g.op("Sub", [g.const(np.float32(1.0)), keep]), g.const(np.float32(-1e9))])
        pad = g.op("Unsqueeze", [pad, g.ints([1, 2])])  # [B,1,1,T]
        mask = g.op("Add", [mask, pad])
    for i in range(layers):
        x = encoder_layer(g, x, f"encoder.layers.{i}", width, heads, mlp, std, mask)
    x = layer_norm(g, x, "final_layer_norm", width)
    if hidden_name:
        g.op("Identity", [x], out=hidden_name)
    # Pool at the first position holding the largest id (ArgMax picks the first maximum, so padding
    # with the end-of-text id itself still pools the real end-of-text).
    eot_pos = g.op("ArgMax", [g.op("Cast", [ids], to=TensorProto.FLOAT)], axis=1, keepdims=1)  # [B,1]
    index = g.op("Expand", [g.op("Unsqueeze", [eot_pos, g.ints([2])]), g.op("Concat", [g.op("Slice", [g.op("Shape", [ids]), g.ints([0]), g.ints([1])]), g.ints([1, width])], axis=0)])
    pooled = g.op("Squeeze", [g.op("GatherElements", [x, index], axis=1), g.ints([1])])  # [B,W]
    g.op("Identity", [linear(g, pooled, "text_projection", width, dim, width**-0.5, bias=False)], out=output_name)
    sequence = "sequence" if dynamic_sequence else CONTEXT
    inputs = [helper.make_tensor_value_info(ids_name, ids_type, ["batch", sequence])]
    if mask_name:
        inputs.append(helper.make_tensor_value_info(mask_name, TensorProto.INT64, ["batch", sequence]))
    outputs = [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, ["batch", dim])]
    if hidden_name:
        outputs.append(helper.make_tensor_value_info(hidden_name, TensorProto.FLOAT, ["batch", sequence, width]))
    return g.model("text_model", inputs, outputs)


def save_model(model: onnx.ModelProto, path: Path, external_data: str | None = None) -> None:
    """Writes `model`; with `external_data` (a file name beside it, e.g. `model.onnx_data`) the
    weights go into that file as the big real exports do. Models past protobuf's 2 GB limit always
    get `<name>_data`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if external_data is None and model.ByteSize() > 1_800_000_000:
        external_data = path.name + "_data"
    if external_data:
        onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True, location=external_data, size_threshold=256)
    else:
        onnx.save_model(model, str(path))


# --------------------------------------------------------------------------------------------------
# Building blocks of the other families (SigLIP ViT, XLM-R / NLLB / M-CLIP text encoders)
# --------------------------------------------------------------------------------------------------


def l2_normalize(g: Graph, x: str) -> str:
    """x / |x| over the last axis (Immich's exports normalise inside the graph)."""
    return g.op("Div", [x, g.op("ReduceL2", [x], axes=[-1], keepdims=1)])


def activation(g: Graph, x: str, kind: str) -> str:
    """The activations the real towers use: tanh-approximated GELU (SigLIP), exact GELU (XLM-R,
    BERT), ReLU (NLLB / M2M-100), quick_gelu (OpenAI CLIP)."""
    if kind == "gelu_tanh":
        inner = g.op("Mul", [g.op("Add", [x, g.op("Mul", [g.op("Mul", [g.op("Mul", [x, x]), x]), g.const(np.float32(0.044715))])]), g.const(np.float32((2 / np.pi) ** 0.5))])
        return g.op("Mul", [g.op("Mul", [x, g.const(np.float32(0.5))]), g.op("Add", [g.op("Tanh", [inner]), g.const(np.float32(1.0))])])
    if kind == "gelu":
        erf = g.op("Erf", [g.op("Mul", [x, g.const(np.float32(2**-0.5))])])
        return g.op("Mul", [g.op("Mul", [x, g.const(np.float32(0.5))]), g.op("Add", [erf, g.const(np.float32(1.0))])])
    if kind == "relu":
        return g.op("Relu", [x])
    if kind == "quick_gelu":
        return g.op("Mul", [x, g.op("Sigmoid", [g.op("Mul", [x, g.const(np.float32(1.702))])])])
    raise ValueError(kind)


def attention(g: Graph, q_in: str, kv_in: str, prefix: str, width: int, heads: int, std: float, mask: str | None) -> str:
    """Multi-head attention of `q_in` [B,Tq,W] over `kv_in` [B,Tk,W]; `mask` is added to the
    scores ([B or 1, 1, Tq or 1, Tk], 0 or -1e9)."""
    head_dim = width // heads
    split = g.ints([0, 0, heads, head_dim])
    q = g.op("Transpose", [g.op("Reshape", [linear(g, q_in, f"{prefix}.q_proj", width, width, std), split])], perm=[0, 2, 1, 3])
    k = g.op("Transpose", [g.op("Reshape", [linear(g, kv_in, f"{prefix}.k_proj", width, width, std), split])], perm=[0, 2, 3, 1])
    v = g.op("Transpose", [g.op("Reshape", [linear(g, kv_in, f"{prefix}.v_proj", width, width, std), split])], perm=[0, 2, 1, 3])
    scores = g.op("Mul", [g.op("MatMul", [q, k]), g.const(np.float32(head_dim**-0.5))])
    if mask is not None:
        scores = g.op("Add", [scores, mask])
    probs = g.op("Softmax", [scores], axis=-1)
    out = g.op("Reshape", [g.op("Transpose", [g.op("MatMul", [probs, v])], perm=[0, 2, 1, 3]), g.ints([0, 0, width])])
    return linear(g, out, f"{prefix}.out_proj", width, width, std)


def feed_forward(g: Graph, x: str, prefix: str, width: int, hidden: int, std: float, act: str) -> str:
    h = activation(g, linear(g, x, f"{prefix}.fc1", width, hidden, std), act)
    return linear(g, h, f"{prefix}.fc2", hidden, width, std * (width / hidden) ** 0.5)


def block(g: Graph, x: str, prefix: str, width: int, heads: int, hidden: int, std: float, mask: str | None, act: str, post_ln: bool = False) -> str:
    """A transformer block: pre-LN (ViT, SigLIP, NLLB) or post-LN (BERT / XLM-R)."""
    if post_ln:
        x = layer_norm(g, g.op("Add", [x, attention(g, x, x, f"{prefix}.attn", width, heads, std, mask)]), f"{prefix}.ln1", width)
        return layer_norm(g, g.op("Add", [x, feed_forward(g, x, f"{prefix}.mlp", width, hidden, std, act)]), f"{prefix}.ln2", width)
    h = layer_norm(g, x, f"{prefix}.ln1", width)
    x = g.op("Add", [x, attention(g, h, h, f"{prefix}.attn", width, heads, std, mask)])
    return g.op("Add", [x, feed_forward(g, layer_norm(g, x, f"{prefix}.ln2", width), f"{prefix}.mlp", width, hidden, std, act)])


def padding_mask(g: Graph, keep: str) -> str:
    """[B,T] 1/0 (any numeric type) → additive attention mask [B,1,1,T]."""
    keep = g.op("Cast", [keep], to=TensorProto.FLOAT)
    pad = g.op("Mul", [g.op("Sub", [g.const(np.float32(1.0)), keep]), g.const(np.float32(-1e9))])
    return g.op("Unsqueeze", [pad, g.ints([1, 2])])


def sequence_length(g: Graph, ids: str) -> str:
    """[T] of a [B,T] tensor."""
    return g.op("Slice", [g.op("Shape", [ids]), g.ints([1]), g.ints([2])])
