//! SigLIP2: SigLIP's towers and sigmoid with Gemma's 256 k BPE tokenizer (byte fallback), texts
//! lower-cased (Google: "the model was trained with lowercased text"), 64 tokens, `<eos>` (1)
//! appended and `<pad>` (0) after it, last-position pooling, so again never trimmed.

use super::siglip::{DEFAULT_LOGIT_BIAS, DEFAULT_LOGIT_SCALE};
use super::{Family, FamilyRules, PaddingRule, Similarity};
use crate::tokenize::TextClean;
use crate::tokenizer_kind::TokenizerKind;

pub const RULES: FamilyRules = FamilyRules {
    family: Family::Siglip2,
    name: "siglip2",
    title: "SigLIP2",
    tokenizers: &[TokenizerKind::GemmaBpe],
    default_context: 64,
    context_is_position_count: true,
    padding: PaddingRule::Fixed,
    pooling: "last position (the padding is read; no attention mask)",
    hf_clean: TextClean::Lowercase,
    similarity: Similarity::Sigmoid {
        logit_scale: DEFAULT_LOGIT_SCALE,
        logit_bias: DEFAULT_LOGIT_BIAS,
    },
    default_eos: "<eos>",
    default_pad: "<pad>",
    needs_language: false,
};
