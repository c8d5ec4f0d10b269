//! CLIP families: what differs between the model families Magpie runs, in one place per family.
//!
//! A "family" is a training recipe that fixes how text and images must be prepared for the towers
//! and how their similarity is read: OpenAI CLIP ([`clip`]), SigLIP ([`siglip`]), SigLIP2
//! ([`siglip2`]), OpenCLIP's multilingual XLM-RoBERTa towers ([`xlm_roberta`]), NLLB-CLIP
//! ([`nllb`]) and M-CLIP ([`mclip`]). Each module holds that family's [`FamilyRules`] — tokenizer
//! kind, context length, padding rule, pooling, text clean-up, similarity — and anything only it
//! needs (NLLB's language codes).
//!
//! What can be read from the ONNX graph (input and output names, element types, fixed axes) is
//! read from the graph, by the encoders; the rules here only say what the graph cannot. Which
//! family a directory holds is decided from its configuration files and its tokenizer
//! ([`detect_huggingface`], [`detect_immich`]); a tokenizer of the wrong kind for the family its
//! configuration describes is an error naming both files.

pub mod clip;
pub mod mclip;
pub mod nllb;
pub mod siglip;
pub mod siglip2;
pub mod xlm_roberta;

use std::fmt;
use std::path::Path;

use serde_json::Value;

use crate::error::{Error, Result};
use crate::tokenize::TextClean;
use crate::tokenizer_kind::TokenizerKind;

/// The model families.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    Clip,
    Siglip,
    Siglip2,
    XlmRoberta,
    Nllb,
    Mclip,
}

impl Family {
    pub const ALL: [Family; 6] = [
        Family::Clip,
        Family::Siglip,
        Family::Siglip2,
        Family::XlmRoberta,
        Family::Nllb,
        Family::Mclip,
    ];

    pub fn rules(self) -> &'static FamilyRules {
        match self {
            Family::Clip => &clip::RULES,
            Family::Siglip => &siglip::RULES,
            Family::Siglip2 => &siglip2::RULES,
            Family::XlmRoberta => &xlm_roberta::RULES,
            Family::Nllb => &nllb::RULES,
            Family::Mclip => &mclip::RULES,
        }
    }

    /// The short name (`clip`, `siglip`, `siglip2`, `xlm-roberta`, `nllb`, `m-clip`).
    pub fn name(self) -> &'static str {
        self.rules().name
    }

    /// The family with this short name.
    pub fn from_name(name: &str) -> Option<Family> {
        Family::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(name.trim()))
    }

    /// The family a tokenizer kind implies when nothing else says (a manifest without `family`).
    pub fn for_tokenizer(kind: TokenizerKind) -> Family {
        match kind {
            TokenizerKind::ClipBpe => Family::Clip,
            TokenizerKind::T5Unigram => Family::Siglip,
            TokenizerKind::GemmaBpe => Family::Siglip2,
            TokenizerKind::XlmRobertaUnigram => Family::XlmRoberta,
            TokenizerKind::Nllb => Family::Nllb,
            TokenizerKind::WordPiece => Family::Mclip,
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether a text row may be cut after its last real token before the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaddingRule {
    /// Always the full context length: the model reads the padding (SigLIP pools the last
    /// position, which is padding for every short text).
    Fixed,
    /// Trimmed when the tower takes a variable length and a probe shows the padding changes
    /// nothing (causal CLIP pooling at end-of-text, masked pooling).
    TrimWhenUnchanged,
}

impl fmt::Display for PaddingRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PaddingRule::Fixed => "always padded to the full context (the padding is read)",
            PaddingRule::TrimWhenUnchanged => {
                "padding trimmed when the tower takes a variable length and the result is unchanged"
            }
        })
    }
}

/// How a text–image similarity becomes a probability (zero-shot tags).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Similarity {
    /// CLIP's contrastive softmax over the labels: `softmax(scale · cos)`.
    Softmax { logit_scale: f32 },
    /// SigLIP's independent sigmoid per label: `σ(scale · cos + bias)`.
    Sigmoid { logit_scale: f32, logit_bias: f32 },
}

impl fmt::Display for Similarity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Similarity::Softmax { logit_scale } => {
                write!(f, "softmax over labels of {logit_scale} · cosine")
            }
            Similarity::Sigmoid {
                logit_scale,
                logit_bias,
            } => write!(f, "sigmoid({logit_scale} · cosine {logit_bias:+})"),
        }
    }
}

/// What a family fixes that the ONNX graph cannot say.
#[derive(Debug)]
pub struct FamilyRules {
    pub family: Family,
    pub name: &'static str,
    /// A line for `magpie doctor` and `models list`.
    pub title: &'static str,
    /// Tokenizer kinds the family was trained with.
    pub tokenizers: &'static [TokenizerKind],
    /// Context length when neither the graph nor a config gives one.
    pub default_context: usize,
    /// Whether a Hugging Face `text_config.max_position_embeddings` is the context length (true
    /// for CLIP and SigLIP; XLM-R's and NLLB's 514/1024 positions are not their CLIP context).
    pub context_is_position_count: bool,
    pub padding: PaddingRule,
    /// How the text tower pools (for `magpie doctor`; the graph does it).
    pub pooling: &'static str,
    /// Text clean-up for a Hugging Face export (what its tokenizer class does before the
    /// `tokenizer.json` pipeline). Immich exports say theirs in `config.json`.
    pub hf_clean: TextClean,
    /// Similarity when the export carries no logit scale or bias.
    pub similarity: Similarity,
    /// End-of-text and padding tokens when no tokenizer config names them.
    pub default_eos: &'static str,
    pub default_pad: &'static str,
    /// Whether queries carry a language code (NLLB).
    pub needs_language: bool,
}

fn wrong_tokenizer(
    family: Family,
    kind: TokenizerKind,
    tokenizer: &Path,
    evidence: &Path,
) -> Error {
    let expected = family
        .rules()
        .tokenizers
        .iter()
        .map(|k| k.describe())
        .collect::<Vec<_>>()
        .join(" or ");
    Error::Tokenizer {
        path: tokenizer.to_path_buf(),
        reason: format!(
            "this is a {kind} tokenizer, but {} describes a {} model, which needs {expected}",
            evidence.display(),
            family.rules().title
        ),
    }
}

/// Fails unless `kind` is one `family` was trained with.
pub fn check_tokenizer(
    family: Family,
    kind: TokenizerKind,
    tokenizer: &Path,
    evidence: &Path,
) -> Result<()> {
    if family.rules().tokenizers.contains(&kind) {
        Ok(())
    } else {
        Err(wrong_tokenizer(family, kind, tokenizer, evidence))
    }
}

fn text_str<'a>(config: &'a Value, pointer: &str) -> &'a str {
    config
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// The family of a Hugging Face / Xenova export, from `config.json`, the tokenizer class
/// `tokenizer_config.json` names, and (when neither says) the tokenizer itself.
pub fn detect_huggingface(
    config: &Value,
    tokenizer_class: Option<&str>,
    kind: TokenizerKind,
    config_path: &Path,
    tokenizer: &Path,
) -> Result<Family> {
    let model_type = text_str(config, "/model_type").to_ascii_lowercase();
    let text_type = text_str(config, "/text_config/model_type").to_ascii_lowercase();
    let family = if model_type == "m-clip" {
        Family::Mclip
    } else if text_type.contains("xlm-roberta") || text_type.contains("xlm_roberta") {
        Family::XlmRoberta
    } else if text_type.contains("m2m") || text_type.contains("nllb") {
        Family::Nllb
    } else if model_type.starts_with("siglip") {
        // Google's SigLIP2 checkpoints (non-NaFlex) reuse SigLIP's config; the tokenizer class
        // (Gemma's) tells them apart, else the tokenizer itself.
        match tokenizer_class.map(str::to_ascii_lowercase) {
            Some(class) if class.contains("gemma") || class.contains("siglip2") => Family::Siglip2,
            Some(class) if class.contains("siglip") || class.contains("t5") => Family::Siglip,
            _ if model_type == "siglip2" || kind == TokenizerKind::GemmaBpe => Family::Siglip2,
            _ => Family::Siglip,
        }
    } else if model_type.is_empty() && !config_path.is_file() {
        Family::for_tokenizer(kind)
    } else {
        Family::Clip
    };
    check_tokenizer(family, kind, tokenizer, config_path)?;
    Ok(family)
}

/// The family of an Immich export, from its open_clip `config.json`, the tokenizer and the text
/// tower's declared inputs (M-CLIP's `config.json` is its image model's, so only the text tower's
/// `attention_mask` input tells it apart from CLIP).
pub fn detect_immich(
    config: &Value,
    kind: TokenizerKind,
    text_inputs: &[String],
    config_path: &Path,
    tokenizer: &Path,
    text_tower: &Path,
) -> Result<Family> {
    let hf_text = format!(
        "{} {}",
        text_str(config, "/text_cfg/hf_model_name"),
        text_str(config, "/text_cfg/hf_tokenizer_name")
    )
    .to_ascii_lowercase();
    let timm = text_str(config, "/vision_cfg/timm_model_name").to_ascii_lowercase();
    let sigmoid_trained = config.get("init_logit_bias").is_some() || timm.contains("siglip");
    let family = if hf_text.contains("nllb") {
        Family::Nllb
    } else if hf_text.contains("roberta") {
        Family::XlmRoberta
    } else if sigmoid_trained {
        // SigLIP2's configs name its tokenizer (`timm/ViT-B-16-SigLIP2`) and Gemma's 256 k
        // vocabulary; SigLIP's name theirs or say 32 k / 250 k.
        let vocab = config
            .pointer("/text_cfg/vocab_size")
            .and_then(Value::as_u64);
        if hf_text.contains("siglip2") || vocab == Some(256_000) {
            Family::Siglip2
        } else if hf_text.contains("siglip") {
            Family::Siglip
        } else {
            match kind {
                TokenizerKind::GemmaBpe => Family::Siglip2,
                _ => Family::Siglip,
            }
        }
    } else if text_inputs.iter().any(|name| name == "attention_mask") {
        Family::Mclip
    } else if !config_path.is_file() {
        Family::for_tokenizer(kind)
    } else {
        Family::Clip
    };
    let evidence = if family == Family::Mclip {
        text_tower
    } else {
        config_path
    };
    check_tokenizer(family, kind, tokenizer, evidence)?;
    Ok(family)
}
