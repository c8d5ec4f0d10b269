//! OpenCLIP's multilingual towers with an XLM-RoBERTa text encoder (e.g.
//! `XLM-Roberta-Base-ViT-B-32__laion5b_s13b_b90k`): XLM-R's SentencePiece Unigram with fairseq ids
//! (`<s> … </s>`, `<pad>` = 1), 77 tokens, the mask computed inside the graph as ids ≠ pad, mean
//! pooling over it, a CLIP image tower and CLIP's softmax.

use super::{Family, FamilyRules, PaddingRule, Similarity};
use crate::tokenize::TextClean;
use crate::tokenizer_kind::TokenizerKind;

pub const RULES: FamilyRules = FamilyRules {
    family: Family::XlmRoberta,
    name: "xlm-roberta",
    title: "multilingual OpenCLIP (XLM-RoBERTa)",
    tokenizers: &[TokenizerKind::XlmRobertaUnigram],
    default_context: 77,
    context_is_position_count: false,
    padding: PaddingRule::TrimWhenUnchanged,
    pooling: "mean over non-padding tokens",
    hf_clean: TextClean::Whitespace,
    similarity: Similarity::Softmax { logit_scale: 100.0 },
    default_eos: "</s>",
    default_pad: "<pad>",
    needs_language: false,
};
