//! Text tokenization for every CLIP family.
//!
//! The tokens themselves come from the model's own `tokenizer.json` (via the `tokenizers` crate,
//! the same code Python's `tokenizers` runs), so ids match the reference bit for bit. Around it,
//! this module does what each family's runtime does before and after the `tokenizer.json`
//! pipeline:
//! - clean-up ([`TextClean`]): CLIP collapses whitespace; Hugging Face's `SiglipTokenizer`
//!   lower-cases and strips punctuation; Immich's `tokenizer_kwargs: clean: canonicalize` does
//!   the same in its own order; SigLIP2 lower-cases;
//! - the language token of NLLB ([`TextTokenizer::encode_in`]): the FLORES-200 code the
//!   template starts with is replaced by the query's language, as `NllbTokenizer(src_lang=…)`
//!   does;
//! - truncation by the tokenizer itself (it keeps the template's special tokens, so end-of-text
//!   stays last: the towers pool there or after it) and padding with the model's pad id to
//!   exactly the context length.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokenizers::{PostProcessorWrapper, Tokenizer, TruncationParams};

use crate::error::{Error, Result};
use crate::model_dir::TextTowerSpec;

/// What is done to a text before the `tokenizer.json` pipeline sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextClean {
    /// Trim and collapse whitespace (CLIP's `whitespace_clean`, Immich's default).
    Whitespace,
    /// Immich / open_clip `clean: canonicalize`: collapse whitespace, remove ASCII punctuation,
    /// lower-case — in that order (a removed comma can leave two spaces).
    Canonicalize,
    /// Hugging Face `SiglipTokenizer.canonicalize_text`: lower-case, remove ASCII punctuation,
    /// collapse whitespace, trim.
    SiglipCanonical,
    /// Collapse whitespace and lower-case (SigLIP2, trained on lower-cased text).
    Lowercase,
}

impl TextClean {
    pub fn apply(self, text: &str) -> String {
        match self {
            TextClean::Whitespace => clean_text(text),
            TextClean::Canonicalize => strip_punctuation(&clean_text(text)).to_lowercase(),
            TextClean::SiglipCanonical => clean_text(&strip_punctuation(&text.to_lowercase())),
            TextClean::Lowercase => clean_text(text).to_lowercase(),
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            TextClean::Whitespace => "whitespace collapsed",
            TextClean::Canonicalize => {
                "canonicalised (whitespace collapsed, punctuation removed, lower-cased)"
            }
            TextClean::SiglipCanonical => {
                "canonicalised as SiglipTokenizer does (lower-cased, punctuation removed, whitespace collapsed)"
            }
            TextClean::Lowercase => "whitespace collapsed, lower-cased",
        }
    }
}

/// Python's `str.split()` whitespace: Unicode White_Space plus the ASCII separators U+001C–U+001F,
/// so texts split where the Python runtimes split them.
fn is_python_whitespace(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// CLIP's `whitespace_clean` (= Python's `" ".join(text.split())`): trim and collapse runs of
/// whitespace to one space.
pub fn clean_text(text: &str) -> String {
    text.split(is_python_whitespace)
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Removes Python's `string.punctuation` (ASCII only, as the reference does).
fn strip_punctuation(text: &str) -> String {
    text.chars().filter(|c| !c.is_ascii_punctuation()).collect()
}

/// Loads a `tokenizer.json` with its own padding and truncation switched off.
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

/// One tokenized text: exactly `context_length` ids, of which the first `len` are real tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRow {
    pub ids: Vec<u32>,
    pub len: usize,
}

/// How a language code reaches the ids (NLLB).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LanguageToken {
    /// The tokenizer's template names a language token (`eng_Latn $A </s>`); it is replaced.
    ReplacesTemplate(String),
    /// The template names none; the code is put first.
    Prefixed,
}

/// A tokenizer producing fixed-length id rows for one text tower.
#[derive(Debug)]
pub struct TextTokenizer {
    tokenizer: Tokenizer,
    path: PathBuf,
    context_length: usize,
    pad_id: u32,
    eot_id: u32,
    clean: TextClean,
    /// NLLB: how the code goes in, and the tokenizer per language already built.
    language: Option<LanguageToken>,
    by_language: Mutex<HashMap<String, Arc<Tokenizer>>>,
}

/// The CLIP-era name of [`TextTokenizer`], kept for existing callers.
pub type ClipTokenizer = TextTokenizer;

impl TextTokenizer {
    /// A CLIP tokenizer: whitespace clean-up, no language.
    pub fn from_file(path: &Path, context_length: usize, pad_id: u32, eot_id: u32) -> Result<Self> {
        Self::build(
            path,
            context_length,
            pad_id,
            eot_id,
            TextClean::Whitespace,
            false,
        )
    }

    /// The tokenizer a model's text tower declares.
    pub fn for_text_tower(spec: &TextTowerSpec) -> Result<Self> {
        Self::build(
            &spec.tokenizer,
            spec.context_length,
            spec.pad_id,
            spec.eot_id,
            spec.clean,
            spec.language.is_some(),
        )
    }

    fn build(
        path: &Path,
        context_length: usize,
        pad_id: u32,
        eot_id: u32,
        clean: TextClean,
        needs_language: bool,
    ) -> Result<Self> {
        let tokenizer_error = |reason: String| Error::Tokenizer {
            path: path.to_path_buf(),
            reason,
        };
        if context_length < 2 {
            return Err(tokenizer_error(format!(
                "context length {context_length} leaves no room for start and end tokens"
            )));
        }
        let mut tokenizer = load_tokenizer_file(path)?;
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: context_length,
                ..TruncationParams::default()
            }))
            .map_err(|e| tokenizer_error(e.to_string()))?;
        let language = if needs_language {
            Some(
                template_language(&tokenizer)
                    .map_or(LanguageToken::Prefixed, LanguageToken::ReplacesTemplate),
            )
        } else {
            None
        };
        Ok(Self {
            tokenizer,
            path: path.to_path_buf(),
            context_length,
            pad_id,
            eot_id,
            clean,
            language,
            by_language: Mutex::new(HashMap::new()),
        })
    }

    /// Number of ids per row.
    pub fn context_length(&self) -> usize {
        self.context_length
    }

    pub fn pad_id(&self) -> u32 {
        self.pad_id
    }

    pub fn eot_id(&self) -> u32 {
        self.eot_id
    }

    pub fn clean(&self) -> TextClean {
        self.clean
    }

    /// How a language code is put into the ids (`None`: the model takes none).
    pub fn language_token(&self) -> Option<&LanguageToken> {
        self.language.as_ref()
    }

    /// Whether `code` is a language token of this tokenizer's vocabulary.
    pub fn knows_language(&self, code: &str) -> bool {
        self.tokenizer.token_to_id(code).is_some()
    }

    /// Tokenizes one text into exactly `context_length` ids (the default language for NLLB).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        Ok(self.encode_in(text, None)?.ids)
    }

    /// Tokenizes several texts.
    pub fn encode_batch(&self, texts: &[&str]) -> Result<Vec<Vec<u32>>> {
        texts.iter().map(|text| self.encode(text)).collect()
    }

    /// Tokenizes one text; `language` (a FLORES-200 code) is used by models that take one and
    /// ignored by the others. Without one, NLLB's tokenizer keeps the code its template names.
    pub fn encode_in(&self, text: &str, language: Option<&str>) -> Result<TokenRow> {
        let cleaned = self.clean.apply(text);
        let tokenizer = match (language, &self.language) {
            (Some(code), Some(mode)) => Some(self.language_tokenizer(code, mode)?),
            _ => None,
        };
        let tokenizer = tokenizer.as_deref().unwrap_or(&self.tokenizer);
        let encoding = tokenizer
            .encode(cleaned.as_str(), true)
            .map_err(|e| Error::Tokenizer {
                path: self.path.clone(),
                reason: format!("cannot tokenize {:?}: {e}", preview(text)),
            })?;
        let mut ids = encoding.get_ids().to_vec();
        // The tokenizer truncates to the context itself; a template longer than the context is
        // the only way to get here, and cutting keeps the row usable.
        ids.truncate(self.context_length);
        let len = ids.len();
        ids.resize(self.context_length, self.pad_id);
        Ok(TokenRow { ids, len })
    }

    /// A copy of the tokenizer whose template carries `code` (cached per language).
    fn language_tokenizer(&self, code: &str, mode: &LanguageToken) -> Result<Arc<Tokenizer>> {
        let mut cache = self
            .by_language
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(tokenizer) = cache.get(code) {
            return Ok(tokenizer.clone());
        }
        let tokenizer_error = |reason: String| Error::Tokenizer {
            path: self.path.clone(),
            reason,
        };
        let id = self.tokenizer.token_to_id(code).ok_or_else(|| {
            tokenizer_error(format!(
                "language `{code}` is not a token of this tokenizer (FLORES-200 codes such as eng_Latn, spa_Latn, zho_Hans)"
            ))
        })?;
        let current = match self.tokenizer.get_post_processor() {
            Some(p) => serde_json::to_value(p).map_err(|e| tokenizer_error(e.to_string()))?,
            None => Value::Null,
        };
        let eos = self
            .tokenizer
            .id_to_token(self.eot_id)
            .unwrap_or_else(|| "</s>".to_string());
        let template = match mode {
            LanguageToken::ReplacesTemplate(old) => replace_special(current, old, code, id),
            LanguageToken::Prefixed => prefixed_template(code, id, &eos, self.eot_id),
        };
        let processor: PostProcessorWrapper =
            serde_json::from_value(template).map_err(|e| tokenizer_error(e.to_string()))?;
        let mut tokenizer = self.tokenizer.clone();
        tokenizer.with_post_processor(Some(processor));
        let tokenizer = Arc::new(tokenizer);
        cache.insert(code.to_string(), tokenizer.clone());
        Ok(tokenizer)
    }
}

/// The language token the template's single-sequence form names, if any.
fn template_language(tokenizer: &Tokenizer) -> Option<String> {
    let value = serde_json::to_value(tokenizer.get_post_processor()?).ok()?;
    value
        .get("single")?
        .as_array()?
        .iter()
        .filter_map(|piece| piece.pointer("/SpecialToken/id")?.as_str())
        .find(|id| crate::family::nllb::is_flores_code(id))
        .map(str::to_string)
}

/// The template with special token `old` replaced by `new` (id `new_id`) everywhere.
fn replace_special(mut template: Value, old: &str, new: &str, new_id: u32) -> Value {
    for key in ["single", "pair"] {
        if let Some(pieces) = template.get_mut(key).and_then(Value::as_array_mut) {
            for piece in pieces {
                if let Some(id) = piece.pointer_mut("/SpecialToken/id") {
                    if id.as_str() == Some(old) {
                        *id = Value::String(new.to_string());
                    }
                }
            }
        }
    }
    if let Some(specials) = template
        .get_mut("special_tokens")
        .and_then(Value::as_object_mut)
    {
        specials.remove(old);
        specials.insert(
            new.to_string(),
            serde_json::json!({"id": new, "ids": [new_id], "tokens": [new]}),
        );
    }
    template
}

/// `code $A eos` for a tokenizer whose template names no language.
fn prefixed_template(code: &str, id: u32, eos: &str, eos_id: u32) -> Value {
    let special = |name: &str| serde_json::json!({"SpecialToken": {"id": name, "type_id": 0}});
    let sequence = |name: &str| serde_json::json!({"Sequence": {"id": name, "type_id": 0}});
    serde_json::json!({
        "type": "TemplateProcessing",
        "single": [special(code), sequence("A"), special(eos)],
        "pair": [special(code), sequence("A"), sequence("B"), special(eos)],
        "special_tokens": {
            code: {"id": code, "ids": [id], "tokens": [code]},
            eos: {"id": eos, "ids": [eos_id], "tokens": [eos]},
        }
    })
}

fn preview(text: &str) -> String {
    let mut preview: String = text.chars().take(40).collect();
    if text.chars().nth(40).is_some() {
        preview.push('…');
    }
    preview
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_up_follows_each_reference() {
        assert_eq!(TextClean::Whitespace.apply("  A  cat,\tOK "), "A cat, OK");
        // Immich: whitespace first, so a removed comma between spaces leaves two.
        assert_eq!(TextClean::Canonicalize.apply("A , Cat!"), "a  cat");
        // SiglipTokenizer: punctuation first, then whitespace.
        assert_eq!(TextClean::SiglipCanonical.apply("A , Cat!"), "a cat");
        assert_eq!(TextClean::Lowercase.apply(" ΟΔΟΣ  Cat "), "οδος cat");
        assert_eq!(clean_text("a\u{1f}b"), "a b");
    }
}
