//! SigLIP (Google, sigmoid loss): a T5 SentencePiece Unigram tokenizer with no start token, texts
//! padded to exactly 64 tokens with `</s>` and no attention mask, the text tower pooling the LAST
//! position — so the padding is part of the input and must never be trimmed —, images squashed
//! to the square size with bicubic resampling and mean = std = 0.5, and a per-label sigmoid.
//!
//! Hugging Face's `SiglipTokenizer` lower-cases and strips punctuation before tokenizing
//! (big_vision's canonicalisation); Immich's exports say in `config.json` whether they do.

use super::{Family, FamilyRules, PaddingRule, Similarity};
use crate::tokenize::TextClean;
use crate::tokenizer_kind::TokenizerKind;

/// exp(4.7215): the trained logit scale of `ViT-SO400M-14-SigLIP-384` (open_clip issue #746),
/// used when an export carries none. The bias default is open_clip's `init_logit_bias` (−10),
/// which SigLIP configs carry.
pub const DEFAULT_LOGIT_SCALE: f32 = 112.33;
pub const DEFAULT_LOGIT_BIAS: f32 = -10.0;

pub const RULES: FamilyRules = FamilyRules {
    family: Family::Siglip,
    name: "siglip",
    title: "SigLIP",
    tokenizers: &[TokenizerKind::T5Unigram],
    default_context: 64,
    context_is_position_count: true,
    padding: PaddingRule::Fixed,
    pooling: "last position (the padding is read; no attention mask)",
    hf_clean: TextClean::SiglipCanonical,
    similarity: Similarity::Sigmoid {
        logit_scale: DEFAULT_LOGIT_SCALE,
        logit_bias: DEFAULT_LOGIT_BIAS,
    },
    default_eos: "</s>",
    default_pad: "</s>",
    needs_language: false,
};
