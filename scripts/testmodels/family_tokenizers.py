"""Tokenizers of the real kinds, trained here, for the per-family test models.

Why trained locally: no real vocabulary can be downloaded on the machines this project is built on,
and the parity tests need tokenizers whose *structure* is the real one (the model type, the
normaliser, the pre-tokenizer, the special tokens and the template), so that Magpie's Rust side and
the Hugging Face reference meet every code path a real export takes.

How: the real vocabularies are SentencePiece models (SigLIP: T5's c4-en Unigram; XLM-R: a Unigram
model; NLLB-200: a BPE model; Gemma / SigLIP2: a BPE model with byte fallback). Each is trained
here with `sentencepiece` on a small multilingual corpus (seconds), then handed to the
Hugging Face tokenizer class of that family (`T5Tokenizer`, `XLMRobertaTokenizer`,
`NllbTokenizer`, `GemmaTokenizer`), which builds the `tokenizers` pipeline exactly as for the real
checkpoints and writes `tokenizer.json` + `tokenizer_config.json`. SigLIP also keeps its
`spiece.model`, which the reference `SiglipTokenizer` (a SentencePiece tokenizer) reads.

The corpus deliberately leaves out some scripts and all emoji, so queries exercise the unknown-token
path (Unigram) and byte fallback (Gemma).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

# Phrases in the scripts the multilingual models are for. Bengali, Georgian, Amharic and emoji are
# absent on purpose (see the module docs).
PHRASES = """
a photo of a cat on the sofa
two dogs running on a beach at sunset
kids playing football in the park
a bowl of fruit on a kitchen table
black and white portrait of an old man
the eiffel tower at night
un gato negro durmiendo en el sofá
una foto de la playa al atardecer
niños jugando al fútbol en el parque
le chat noir dort sur le canapé
une photo de la plage au coucher du soleil
der Hund läuft am Strand entlang
eine Katze auf dem Dach im Winter
il cane corre nel parco
o gato está dormindo na cama
кошка спит на диване
собака бежит по пляжу
фотография заката над морем
東京の夜景とタワー
猫がソファで寝ている
海辺の夕日の写真
一只猫在沙发上睡觉
海滩上的日落
孩子们在公园里踢足球
고양이가 소파에서 자고 있다
해변의 일몰
القط ينام على الأريكة
غروب الشمس على الشاطئ
החתול ישן על הספה
η γάτα κοιμάται στον καναπέ
बिल्ली सोफे पर सो रही है
समुद्र तट पर सूर्यास्त
แมวนอนบนโซฟา
kedi kanepede uyuyor
kot śpi na kanapie
mèo đang ngủ trên ghế sofa
kucing tidur di sofa
2024 12 31 100 25 7 3.5 1080p
""".strip().splitlines()


def corpus_lines(words: list[str]) -> list[str]:
    lines = [" ".join(words[i : i + 8]) for i in range(0, len(words), 8)]
    return lines + PHRASES * 3


_SPM_CACHE: dict[str, Path] = {}
_WORK = None


def _workdir() -> Path:
    global _WORK
    if _WORK is None:
        _WORK = Path(tempfile.mkdtemp(prefix="magpie-spm-"))
    return _WORK


def train_spm(kind: str, words: list[str]) -> Path:
    """Trains (once per run) the SentencePiece model of `kind`: t5 | xlmr | nllb | gemma."""
    if kind in _SPM_CACHE:
        return _SPM_CACHE[kind]
    import sentencepiece as spm

    work = _workdir()
    corpus = work / "corpus.txt"
    if not corpus.exists():
        corpus.write_text("\n".join(corpus_lines(words)) + "\n", encoding="utf-8")
    prefix = str(work / kind)
    common = dict(input=str(corpus), model_prefix=prefix, character_coverage=0.9995, minloglevel=2, hard_vocab_limit=False, num_threads=1, seed_sentencepiece_size=100000)
    if kind == "t5":  # T5 / SigLIP: <pad>=0 </s>=1 <unk>=2, no <s>
        spm.SentencePieceTrainer.train(model_type="unigram", vocab_size=600, pad_id=0, eos_id=1, unk_id=2, bos_id=-1, **common)
    elif kind == "xlmr":  # sentencepiece's default ids; XLM-R shifts them by the fairseq offset
        spm.SentencePieceTrainer.train(model_type="unigram", vocab_size=600, **common)
    elif kind == "nllb":
        spm.SentencePieceTrainer.train(model_type="bpe", vocab_size=700, **common)
    elif kind == "gemma":  # Gemma: <pad>=0 <eos>=1 <bos>=2 <unk>=3, byte fallback, digits split
        spm.SentencePieceTrainer.train(
            model_type="bpe", vocab_size=900, pad_id=0, eos_id=1, bos_id=2, unk_id=3, pad_piece="<pad>", eos_piece="<eos>", bos_piece="<bos>", unk_piece="<unk>",
            control_symbols=["<mask>", "<start_of_turn>", "<end_of_turn>"], byte_fallback=True, split_digits=True, allow_whitespace_only_pieces=True,
            normalization_rule_name="identity", add_dummy_prefix=False, remove_extra_whitespaces=False, **common,
        )
    else:
        raise ValueError(kind)
    _SPM_CACHE[kind] = Path(prefix + ".model")
    return _SPM_CACHE[kind]


def _extract(model: Path, bpe: bool) -> dict:
    from tokenizers.models import BPE
    from transformers.convert_slow_tokenizer import SentencePieceExtractor

    return SentencePieceExtractor(str(model)).extract(BPE if bpe else None)


def _special_tokens_map(tok) -> dict:
    def entry(token):
        return {"content": str(token), "lstrip": False, "normalized": False, "rstrip": False, "single_word": False}

    keys = ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"]
    return {k: entry(getattr(tok, k)) for k in keys if getattr(tok, k, None) is not None}


def _save(tok, directory: Path, config_updates: dict | None = None) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tok.save_pretrained(str(directory))
    config_path = directory / "tokenizer_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config.pop("vocab_file", None)  # a build-time path, not part of the export
    config.update(config_updates or {})
    config_path.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (directory / "special_tokens_map.json").write_text(json.dumps(_special_tokens_map(tok), indent=2) + "\n", encoding="utf-8")


def write_siglip(directory: Path, words: list[str], slow: bool) -> int:
    """T5-style Unigram (SigLIP). `slow`: also the `spiece.model` and the `SiglipTokenizer` config
    of a Hugging Face SigLIP repo; otherwise the `T5Tokenizer` files open_clip / Immich ship.
    Returns the vocabulary size."""
    from transformers import SiglipTokenizer, T5Tokenizer

    model = train_spm("t5", words)
    k = _extract(model, bpe=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # SigLIP pads with </s> (big_vision's pad_value=1) and has no <extra_id_*> tokens.
        fast = T5Tokenizer(vocab=k["vocab"], extra_ids=0, pad_token="</s>", _spm_precompiled_charsmap=k["_spm_precompiled_charsmap"], model_max_length=64)
    _save(fast, directory, {"pad_token": "</s>"})
    if slow:
        shutil.copyfile(model, directory / "spiece.model")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            siglip = SiglipTokenizer(vocab_file=str(directory / "spiece.model"), model_max_length=64)
        config = {
            "tokenizer_class": "SiglipTokenizer",
            "do_lower_case": True,
            "eos_token": "</s>",
            "pad_token": "</s>",
            "unk_token": "<unk>",
            "model_max_length": 64,
            "sp_model_kwargs": {},
        }
        (directory / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        (directory / "special_tokens_map.json").write_text(json.dumps(_special_tokens_map(siglip), indent=2) + "\n", encoding="utf-8")
    return fast.backend_tokenizer.get_vocab_size(with_added_tokens=True)


def write_gemma(directory: Path, words: list[str]) -> int:
    """Gemma BPE with byte fallback (SigLIP2): no <bos>, <eos> appended, padded on the right."""
    from transformers import GemmaTokenizer

    k = _extract(train_spm("gemma", words), bpe=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tok = GemmaTokenizer(vocab=k["vocab"], merges=k["merges"], add_bos_token=False, add_eos_token=True, model_max_length=64)
    _save(tok, directory, {"padding_side": "right"})
    return tok.backend_tokenizer.get_vocab_size(with_added_tokens=True)


def write_xlmr(directory: Path, words: list[str]) -> int:
    """XLM-RoBERTa Unigram: fairseq ids <s>=0 <pad>=1 </s>=2 <unk>=3 … <mask>; `<s> $A </s>`."""
    from transformers import XLMRobertaTokenizer

    k = _extract(train_spm("xlmr", words), bpe=False)
    vocab = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)] + [tuple(v) for v in k["vocab"][3:]] + [("<mask>", 0.0)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tok = XLMRobertaTokenizer(vocab=vocab, _spm_precompiled_charsmap=k["_spm_precompiled_charsmap"], model_max_length=512)
    _save(tok, directory)
    return tok.backend_tokenizer.get_vocab_size(with_added_tokens=True)


def write_nllb(directory: Path, words: list[str]) -> int:
    """NLLB-200 SentencePiece BPE: fairseq ids, the 202 FLORES-200 language codes as special tokens,
    template `eng_Latn $A </s>` (the source language goes first)."""
    from transformers import NllbTokenizer

    k = _extract(train_spm("nllb", words), bpe=True)
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    for piece in list(k["vocab"].keys())[3:]:
        vocab.setdefault(piece, len(vocab))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tok = NllbTokenizer(vocab=vocab, merges=k["merges"], _spm_precompiled_charsmap=k["_spm_precompiled_charsmap"], model_max_length=1024)
    _save(tok, directory)
    return tok.backend_tokenizer.get_vocab_size(with_added_tokens=True)
