//! CLIP tokenization.
//!
//! The text tower takes exactly `context_length` token ids: start-of-text, the BPE tokens, end-of-
//! text, then padding. The BPE itself comes from the model's own `tokenizer.json` (via the
//! `tokenizers` crate, the same code Python's `tokenizers` runs), so ids match the reference
//! bit for bit; this module only adds what CLIP expects around it: whitespace clean-up, truncation
//! that keeps end-of-text last (the text tower pools at the EOT position, so losing it would
//! silently pool a random token), and padding with the model's pad id.

use std::path::{Path, PathBuf};

use tokenizers::Tokenizer;

use crate::error::{Error, Result};
use crate::model_dir::TextTowerSpec;

/// Loads a `tokenizer.json` with its own padding/truncation switched off (we do both ourselves).
pub(crate) fn load_tokenizer_file(path: &Path) -> Result<Tokenizer> {
    let mut tokenizer = Tokenizer::from_file(path).map_err(|e| Error::Tokenizer {
        path: path.to_path_buf(),
        reason: format!("cannot read tokenizer.json: {e}"),
    })?;
    tokenizer.with_padding(None);
    tokenizer
        .with_truncation(None)
        .map_err(|e| Error::Tokenizer {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    Ok(tokenizer)
}

/// A CLIP tokenizer producing fixed-length id rows.
#[derive(Debug, Clone)]
pub struct ClipTokenizer {
    tokenizer: Tokenizer,
    path: PathBuf,
    context_length: usize,
    pad_id: u32,
    eot_id: u32,
}

impl ClipTokenizer {
    /// Loads a tokenizer file with explicit CLIP parameters.
    pub fn from_file(path: &Path, context_length: usize, pad_id: u32, eot_id: u32) -> Result<Self> {
        if context_length < 2 {
            return Err(Error::Tokenizer {
                path: path.to_path_buf(),
                reason: format!(
                    "context length {context_length} leaves no room for start and end tokens"
                ),
            });
        }
        Ok(Self {
            tokenizer: load_tokenizer_file(path)?,
            path: path.to_path_buf(),
            context_length,
            pad_id,
            eot_id,
        })
    }

    /// The tokenizer a model's text tower declares.
    pub fn for_text_tower(spec: &TextTowerSpec) -> Result<Self> {
        Self::from_file(
            &spec.tokenizer,
            spec.context_length,
            spec.pad_id,
            spec.eot_id,
        )
    }

    /// Number of ids per row.
    pub fn context_length(&self) -> usize {
        self.context_length
    }

    /// Tokenizes one text into exactly `context_length` ids.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let cleaned = clean_text(text);
        let encoding =
            self.tokenizer
                .encode(cleaned.as_str(), true)
                .map_err(|e| Error::Tokenizer {
                    path: self.path.clone(),
                    reason: format!("cannot tokenize {:?}: {e}", preview(text)),
                })?;
        let mut ids = encoding.get_ids().to_vec();
        if ids.len() > self.context_length {
            ids.truncate(self.context_length - 1);
            ids.push(self.eot_id);
        }
        ids.resize(self.context_length, self.pad_id);
        Ok(ids)
    }

    /// Tokenizes several texts.
    pub fn encode_batch(&self, texts: &[&str]) -> Result<Vec<Vec<u32>>> {
        texts.iter().map(|text| self.encode(text)).collect()
    }
}

/// CLIP's `whitespace_clean`: trim and collapse runs of whitespace to one space. (Lower-casing and
/// Unicode normalisation are the tokenizer's own normaliser's job.)
pub fn clean_text(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn preview(text: &str) -> String {
    let mut preview: String = text.chars().take(40).collect();
    if text.chars().nth(40).is_some() {
        preview.push('…');
    }
    preview
}
