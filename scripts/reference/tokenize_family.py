#!/usr/bin/env python3
"""Reference tokenization for every CLIP family: what the upstream runtimes feed a text tower.

Why: Magpie tokenizes in Rust (the `tokenizers` crate plus per-family clean-up, language tokens,
truncation and padding). The family parity tests shell out to this script, which implements the
same job independently with the Hugging Face `transformers` tokenizer classes, and require
identical ids.

    tokenize_family.py --model-dir DIR [--lang FLORES_CODE]

stdin: one query per line, each a JSON string. stdout: {"family": ..., "context_length": L,
"rows": [[id, ...], ...], "lengths": [n, ...]} — each row exactly L ids (`padding="max_length"`,
`truncation=True`, padded on the right), `lengths` the real tokens per row (the attention mask's
ones).

What each layout's runtime does, reproduced here:
- Hugging Face / Xenova (`onnx/` towers): `AutoTokenizer.from_pretrained(DIR)`: for SigLIP that is
  `SiglipTokenizer` (SentencePiece, from `spiece.model`), which lower-cases and strips punctuation
  itself; SigLIP2's Gemma tokenizer gets lower-cased text (Google: "the model was trained with
  lowercased text"); everything else gets open_clip's whitespace clean-up. The context length is
  `text_config.context_length`, else (CLIP, SigLIP) `text_config.max_position_embeddings`, else
  77.
- Immich (`textual/`): the tokenizer in `textual/`, Immich's `clean_text` with
  `text_cfg.tokenizer_kwargs.clean` from `config.json` ("canonicalize": punctuation removed and
  lower-cased after whitespace clean-up), `text_cfg.context_length` (default 77).
- NLLB (either layout): `NllbTokenizer(src_lang=LANG)` (default eng_Latn), the language code first,
  as open_clip trains it. (Immich instead prefixes the code to the text, which its template then
  doubles; Magpie follows open_clip/transformers.)
"""

import os
import sys

# The folder also holds `tokenize.py`, which would shadow the standard library's `tokenize`.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import argparse  # noqa: E402
import json  # noqa: E402
import string  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def whitespace(text: str) -> str:
    return " ".join(text.split())


def read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def family_of(layout: str, config: dict, tokenizer_config: dict, textual_inputs: list) -> str:
    tclass = tokenizer_config.get("tokenizer_class", "")
    if "Nllb" in tclass:
        return "nllb"
    if layout == "hf":
        if config.get("model_type", "").lower() == "m-clip":
            return "m-clip"
        text_type = config.get("text_config", {}).get("model_type", "")
        if "xlm" in text_type:
            return "xlm-roberta"
        if config.get("model_type", "").startswith("siglip"):
            return "siglip2" if "Gemma" in tclass else "siglip"
        return "clip"
    text_cfg = config.get("text_cfg", {})
    hf = (text_cfg.get("hf_model_name", "") + " " + text_cfg.get("hf_tokenizer_name", "")).lower()
    if "roberta" in hf:
        return "xlm-roberta"
    if "init_logit_bias" in config:
        return "siglip2" if "Gemma" in tclass else "siglip"
    if "attention_mask" in textual_inputs:
        return "m-clip"
    return "clip"


def main() -> int:
    parser = argparse.ArgumentParser(description="Reference tokenization (transformers) for CLIP-family models.")
    parser.add_argument("--model-dir", required=True, type=Path)
    parser.add_argument("--lang", default=None, help="FLORES-200 code for NLLB models (default eng_Latn)")
    args = parser.parse_args()
    d = args.model_dir

    import transformers
    from transformers import AutoTokenizer, NllbTokenizer

    if (d / "textual" / "tokenizer.json").is_file():
        layout, tok_dir = "immich", d / "textual"
        import onnx

        inputs = [i.name for i in onnx.load(str(d / "textual" / "model.onnx"), load_external_data=False).graph.input]
    else:
        layout, tok_dir, inputs = "hf", d, []
    config = read_json(d / "config.json")
    family = family_of(layout, config, read_json(tok_dir / "tokenizer_config.json"), inputs)

    if layout == "immich":
        context = config.get("text_cfg", {}).get("context_length", 77)
        clean_kind = config.get("text_cfg", {}).get("tokenizer_kwargs", {}).get("clean", "whitespace")

        def clean(text):
            text = whitespace(text)
            if clean_kind == "canonicalize":
                text = text.translate(_PUNCTUATION).lower()
            elif clean_kind == "lower":
                text = text.lower()
            return text
    else:
        text_config = config.get("text_config", {})
        context = text_config.get("context_length") or config.get("context_length")
        if context is None and family in ("clip", "siglip", "siglip2"):
            context = text_config.get("max_position_embeddings")
        context = context or 77
        if family == "siglip":
            clean = lambda text: text  # noqa: E731 - SiglipTokenizer canonicalises itself
        elif family == "siglip2":
            clean = lambda text: whitespace(text).lower()  # noqa: E731
        else:
            clean = whitespace

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if family == "nllb":
            tok = NllbTokenizer.from_pretrained(str(tok_dir), src_lang=args.lang or "eng_Latn")
        else:
            # The class tokenizer_config.json names (AutoTokenizer would also parse config.json,
            # which for a CLIP model describes the towers, not the tokenizer).
            tclass = read_json(tok_dir / "tokenizer_config.json").get("tokenizer_class")
            cls = getattr(transformers, tclass, None) if tclass else None
            tok = (cls or AutoTokenizer).from_pretrained(str(tok_dir))
        tok.padding_side = "right"

        queries = []
        for number, line in enumerate(sys.stdin.buffer.read().decode("utf-8").split("\n"), 1):
            if not line.strip():
                continue
            query = json.loads(line)
            if not isinstance(query, str):
                print(f"tokenize_family.py: stdin line {number} is not a JSON string", file=sys.stderr)
                return 1
            queries.append(query)
        rows, lengths = [], []
        for query in queries:
            encoded = tok(clean(query), padding="max_length", max_length=context, truncation=True)
            ids = list(encoded["input_ids"])
            if len(ids) != context:
                print(f"tokenize_family.py: {query!r} gave {len(ids)} ids, not {context}", file=sys.stderr)
                return 1
            rows.append(ids)
            lengths.append(int(sum(encoded["attention_mask"])))
    json.dump({"family": family, "layout": layout, "context_length": context, "rows": rows, "lengths": lengths}, sys.stdout, separators=(",", ":"))
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
