//! M-CLIP (`M-CLIP/XLM-Roberta-Large-Vit-B-32`, `LABSE-Vit-L-14`, …): a multilingual text encoder
//! (XLM-R or LaBSE) distilled onto a CLIP image tower. Its text tower takes `input_ids` AND
//! `attention_mask` and mean-pools inside; Immich ships the image model's open_clip `config.json`
//! beside it, so the family is recognised by those inputs, not by the config.

use super::{Family, FamilyRules, PaddingRule, Similarity};
use crate::tokenize::TextClean;
use crate::tokenizer_kind::TokenizerKind;

pub const RULES: FamilyRules = FamilyRules {
    family: Family::Mclip,
    name: "m-clip",
    title: "M-CLIP",
    tokenizers: &[TokenizerKind::XlmRobertaUnigram, TokenizerKind::WordPiece],
    default_context: 77,
    context_is_position_count: false,
    padding: PaddingRule::TrimWhenUnchanged,
    pooling: "mean over the attention mask (inside the graph)",
    hf_clean: TextClean::Whitespace,
    similarity: Similarity::Softmax { logit_scale: 100.0 },
    default_eos: "</s>",
    default_pad: "<pad>",
    needs_language: false,
};
