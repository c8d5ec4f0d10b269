//! Prompt ensembles (CLIP paper, §3.1.4): embed a short query as the mean of several captions
//! ("a photo of {}", "a picture of {}", …) instead of the bare words.
//!
//! Why: CLIP's text tower was trained on captions, so a bare noun like "dog" is out of
//! distribution; wrapping it in caption templates and averaging the (normalised) embeddings
//! gave the paper several points of zero-shot accuracy and makes ranking less sensitive to one
//! template's quirks.
//!
//! When: only for short texts — at most [`MAX_ENSEMBLE_WORDS`] words that do not already read
//! as a sentence or caption (no terminal `.`, `!`, `?`, and not starting "a photo…",
//! "a picture…", "an image…", "photo of…"). A longer description is already caption-like;
//! wrapping it adds nothing, spends the 77-token context, and "a photo of a photo of …" is worse
//! than either. `--raw` switches ensembles off entirely.

use serde::{Deserialize, Serialize};

/// Texts with more words than this are embedded as written.
pub const MAX_ENSEMBLE_WORDS: usize = 4;

/// The placeholder every template contains exactly once.
pub const PLACEHOLDER: &str = "{}";

/// Templates for search queries. Article-free, so plurals and phrases ("kids", "old town")
/// read naturally, and free of colour/lighting words that would bias every query.
pub const DEFAULT_QUERY_TEMPLATES: [&str; 8] = [
    "a photo of {}.",
    "a picture of {}.",
    "an image of {}.",
    "a photo of the {}.",
    "a close-up photo of {}.",
    "a cropped photo of {}.",
    "a good photo of {}.",
    "a snapshot of {}.",
];

/// Templates for zero-shot labels, which are single nouns ("dog", "beach"): "a photo of a {}".
pub const DEFAULT_LABEL_TEMPLATES: [&str; 8] = [
    "a photo of a {}.",
    "a picture of a {}.",
    "an image of a {}.",
    "a photo of the {}.",
    "a close-up photo of a {}.",
    "a cropped photo of a {}.",
    "a good photo of a {}.",
    "a photo of my {}.",
];

/// Starts of texts that are already captions.
const CAPTION_OPENINGS: [&str; 8] = [
    "a photo",
    "a picture",
    "an image",
    "a close-up",
    "a snapshot",
    "photo of",
    "picture of",
    "image of",
];

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PromptError {
    #[error("a prompt ensemble needs at least one template")]
    NoTemplates,
    #[error("prompt template {0:?} must contain \"{{}}\" exactly once")]
    BadTemplate(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromptEnsemble {
    pub templates: Vec<String>,
}

impl Default for PromptEnsemble {
    fn default() -> Self {
        Self::from_static(&DEFAULT_QUERY_TEMPLATES)
    }
}

impl PromptEnsemble {
    /// A configured ensemble; every template must contain `{}` exactly once.
    pub fn new(templates: Vec<String>) -> Result<Self, PromptError> {
        if templates.is_empty() {
            return Err(PromptError::NoTemplates);
        }
        if let Some(bad) = templates
            .iter()
            .find(|t| t.matches(PLACEHOLDER).count() != 1)
        {
            return Err(PromptError::BadTemplate(bad.clone()));
        }
        Ok(Self { templates })
    }

    /// The ensemble for zero-shot labels.
    pub fn for_labels() -> Self {
        Self::from_static(&DEFAULT_LABEL_TEMPLATES)
    }

    fn from_static(templates: &[&str]) -> Self {
        Self {
            templates: templates.iter().map(|t| t.to_string()).collect(),
        }
    }

    /// Whether `text` is short enough, and not already a caption, to be worth an ensemble.
    pub fn applies_to(text: &str) -> bool {
        let text = text.trim();
        let words = text.split_whitespace().count();
        let lower = text.to_lowercase();
        words > 0
            && words <= MAX_ENSEMBLE_WORDS
            && !text.ends_with(['.', '!', '?'])
            && !CAPTION_OPENINGS.iter().any(|o| lower.starts_with(o))
    }

    /// The captions for `text`, one per template.
    pub fn expand(&self, text: &str) -> Vec<String> {
        self.templates
            .iter()
            .map(|t| t.replacen(PLACEHOLDER, text.trim(), 1))
            .collect()
    }

    /// A stable fingerprint of the templates (FNV-1a), so cached ensemble embeddings are
    /// invalidated when the configured templates change.
    pub fn fingerprint(&self) -> u64 {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for template in &self.templates {
            for byte in template.bytes().chain(std::iter::once(0)) {
                hash ^= u64::from(byte);
                hash = hash.wrapping_mul(0x0100_0000_01b3);
            }
        }
        hash
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applies_to_short_non_sentences_only() {
        assert!(PromptEnsemble::applies_to("dog"));
        assert!(PromptEnsemble::applies_to("red car at night"));
        assert!(!PromptEnsemble::applies_to("kids on a beach at sunset"));
        assert!(!PromptEnsemble::applies_to("dog."));
        assert!(!PromptEnsemble::applies_to("A photo of a dog"));
        assert!(!PromptEnsemble::applies_to("   "));
    }

    #[test]
    fn expands_every_template() {
        let ensemble = PromptEnsemble::default();
        let captions = ensemble.expand(" dog ");
        assert_eq!(captions.len(), DEFAULT_QUERY_TEMPLATES.len());
        assert_eq!(captions[0], "a photo of dog.");
        assert!(captions
            .iter()
            .all(|c| c.contains("dog") && !c.contains("{}")));
        assert_eq!(
            PromptEnsemble::for_labels().expand("cat")[0],
            "a photo of a cat."
        );
    }

    #[test]
    fn validates_templates() {
        assert_eq!(PromptEnsemble::new(vec![]), Err(PromptError::NoTemplates));
        assert!(matches!(
            PromptEnsemble::new(vec!["no placeholder".into()]),
            Err(PromptError::BadTemplate(_))
        ));
        assert!(matches!(
            PromptEnsemble::new(vec!["{} and {}".into()]),
            Err(PromptError::BadTemplate(_))
        ));
        assert!(PromptEnsemble::new(vec!["art of {}".into()]).is_ok());
    }

    #[test]
    fn fingerprint_tracks_templates() {
        let a = PromptEnsemble::default();
        let b = PromptEnsemble::new(vec!["art of {}".into()]).unwrap();
        assert_eq!(a.fingerprint(), PromptEnsemble::default().fingerprint());
        assert_ne!(a.fingerprint(), b.fingerprint());
        assert_ne!(a.fingerprint(), PromptEnsemble::for_labels().fingerprint());
    }
}
