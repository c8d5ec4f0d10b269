//! OpenAI CLIP and the OpenCLIP models trained like it (LAION, DFN, …): CLIP BPE, 77 tokens,
//! `<|startoftext|> … <|endoftext|>`, a causal text transformer pooled at end-of-text, images
//! resized on the shortest side and centre-cropped, a contrastive softmax with logit scale 100.

use super::{Family, FamilyRules, PaddingRule, Similarity};
use crate::tokenize::TextClean;
use crate::tokenizer_kind::TokenizerKind;

pub const RULES: FamilyRules = FamilyRules {
    family: Family::Clip,
    name: "clip",
    title: "CLIP",
    tokenizers: &[TokenizerKind::ClipBpe],
    default_context: 77,
    context_is_position_count: true,
    padding: PaddingRule::TrimWhenUnchanged,
    pooling: "end-of-text token (causal transformer)",
    hf_clean: TextClean::Whitespace,
    // CLIP's learned temperature, clamped to 100 in training.
    similarity: Similarity::Softmax { logit_scale: 100.0 },
    default_eos: "<|endoftext|>",
    default_pad: "<|endoftext|>",
    needs_language: false,
};
