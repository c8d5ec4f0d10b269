//! Which kind of tokenizer a `tokenizer.json` holds.
//!
//! Every CLIP family was trained with one tokenizer kind, and a model directory with the wrong one
//! (a CLIP `tokenizer.json` copied into a SigLIP folder, say) would not fail: it would tokenize
//! into ids of another vocabulary and search would quietly return noise. So the kind is read from
//! the file's structure — the model type, BPE's byte fallback and end-of-word suffix, where the
//! special tokens sit — and checked against what the family needs ([`crate::family`]).

use std::fmt;

use tokenizers::models::ModelWrapper;
use tokenizers::Tokenizer;

/// The tokenizer kinds of the CLIP families Magpie runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenizerKind {
    /// OpenAI CLIP's byte-level BPE (`</w>` word ends, `<|startoftext|>` / `<|endoftext|>`).
    ClipBpe,
    /// SentencePiece Unigram in T5's layout (`<pad>`=0, `</s>`=1): SigLIP.
    T5Unigram,
    /// SentencePiece BPE with byte fallback (Gemma's 256 k vocabulary): SigLIP2.
    GemmaBpe,
    /// SentencePiece Unigram with fairseq ids (`<s>`=0, `<pad>`=1, `</s>`=2): XLM-RoBERTa.
    XlmRobertaUnigram,
    /// SentencePiece with fairseq ids and the FLORES-200 language tokens: NLLB-200.
    Nllb,
    /// WordPiece (BERT, LaBSE).
    WordPiece,
}

impl TokenizerKind {
    /// What a person reading `magpie doctor` or an error message should see.
    pub fn describe(self) -> &'static str {
        match self {
            Self::ClipBpe => "CLIP byte-level BPE",
            Self::T5Unigram => "SentencePiece Unigram (T5 / SigLIP)",
            Self::GemmaBpe => "SentencePiece BPE with byte fallback (Gemma / SigLIP2)",
            Self::XlmRobertaUnigram => "SentencePiece Unigram with fairseq ids (XLM-RoBERTa)",
            Self::Nllb => "SentencePiece with FLORES-200 language tokens (NLLB-200)",
            Self::WordPiece => "WordPiece (BERT / LaBSE)",
        }
    }

    /// Reads the kind from a loaded tokenizer; `Err` describes a tokenizer of no known kind.
    pub fn detect(tokenizer: &Tokenizer) -> Result<Self, String> {
        let id = |token: &str| tokenizer.token_to_id(token);
        let has_flores = id("eng_Latn").is_some() && id("spa_Latn").is_some();
        match tokenizer.get_model() {
            ModelWrapper::BPE(bpe) => {
                if bpe.end_of_word_suffix.as_deref() == Some("</w>")
                    || id("<|endoftext|>").is_some()
                {
                    Ok(Self::ClipBpe)
                } else if has_flores {
                    Ok(Self::Nllb)
                } else if bpe.byte_fallback {
                    Ok(Self::GemmaBpe)
                } else {
                    Err("a BPE tokenizer that is neither CLIP's, Gemma's nor NLLB's".to_string())
                }
            }
            ModelWrapper::Unigram(_) => {
                if has_flores {
                    Ok(Self::Nllb)
                } else if id("<s>") == Some(0) && id("<pad>") == Some(1) && id("</s>") == Some(2) {
                    Ok(Self::XlmRobertaUnigram)
                } else if id("</s>") == Some(1) {
                    Ok(Self::T5Unigram)
                } else {
                    Err(
                        "a SentencePiece Unigram tokenizer with unfamiliar special tokens"
                            .to_string(),
                    )
                }
            }
            ModelWrapper::WordPiece(_) => Ok(Self::WordPiece),
            ModelWrapper::WordLevel(_) => Err("a word-level tokenizer".to_string()),
        }
    }
}

impl fmt::Display for TokenizerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}
