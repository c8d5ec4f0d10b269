//! How the text read in an image (OCR) becomes searchable words. The one definition: the keyword
//! index (`text.rs`) indexes exactly these words, and [`crate::Filters::matches`] compares with
//! exactly these, so the `text=` filter decides alike on both sides.
//!
//! Two kinds of word:
//! - **words**: runs of letters and digits, lower-cased — tantivy's default analyzer, the one the
//!   `ocr` field is tokenized with ([`text_words`]);
//! - **parts** of run-together words. PP-OCR often drops the spaces between Latin words on signs
//!   and headings ("COMETZEPHYRSPARROW" for "COMET ZEPHYR SPARROW"), so a search for "zephyr"
//!   must still find that image. Without a dictionary the word boundaries are unknown, so every
//!   substring of [`MIN_PART_CHARS`]..=[`MAX_PART_CHARS`] characters of a long word is a part
//!   ([`word_parts`]). Only words of at least [`RUN_TOGETHER_MIN_CHARS`] characters are split:
//!   ordinary words ("statement", "tomorrow") rarely hide other words a person searches for, and
//!   short parts ("art", "the") are not made at all, which is what keeps accidental substrings
//!   out. Parts are indexed in their own field and weigh less than whole words in the ranking.

use tantivy::tokenizer::{TextAnalyzer, TokenizerManager};

/// Words shorter than this are never split into parts.
pub const RUN_TOGETHER_MIN_CHARS: usize = 8;
/// The shortest part of a run-together word.
pub const MIN_PART_CHARS: usize = 4;
/// The longest part of a run-together word (longer words are rare, and the whole word is
/// indexed anyway).
pub const MAX_PART_CHARS: usize = 20;

/// The words of `text` as the keyword index makes them: runs of letters and digits, lower-cased,
/// shorter than 40 bytes (tantivy's default analyzer).
pub fn text_words(text: &str) -> Vec<String> {
    let mut analyzer: TextAnalyzer = TokenizerManager::default()
        .get("default")
        .expect("tantivy registers its default tokenizer");
    let mut stream = analyzer.token_stream(text);
    let mut words = Vec::new();
    while stream.advance() {
        words.push(stream.token().text.clone());
    }
    words
}

/// The parts of one word (a [`text_words`] word): every substring of
/// [`MIN_PART_CHARS`]..=[`MAX_PART_CHARS`] characters, except the word itself, when the word has
/// at least [`RUN_TOGETHER_MIN_CHARS`] letters; nothing otherwise. Words that contain digits are
/// numbers, codes and amounts ("42.50" is two words already), never run-together prose, and are
/// not split either.
pub fn word_parts(word: &str) -> Vec<String> {
    let chars: Vec<char> = word.chars().collect();
    if chars.len() < RUN_TOGETHER_MIN_CHARS || !chars.iter().all(|c| c.is_alphabetic()) {
        return Vec::new();
    }
    let mut parts = Vec::new();
    for start in 0..chars.len() {
        for len in MIN_PART_CHARS..=MAX_PART_CHARS {
            let end = start + len;
            if end > chars.len() {
                break;
            }
            if len == chars.len() {
                continue;
            }
            parts.push(chars[start..end].iter().collect());
        }
    }
    parts.sort();
    parts.dedup();
    parts
}

/// A search of image text: words, any of which may match (all of them rank first), and quoted
/// phrases, whose words must follow each other.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextQuery {
    /// [`text_words`] words.
    pub words: Vec<String>,
    /// Phrases as typed (split into words when searched).
    pub phrases: Vec<String>,
}

impl TextQuery {
    /// The words of `bare` (split with [`text_words`]) and the given phrases.
    pub fn new(bare: &str, phrases: Vec<String>) -> Self {
        let mut words: Vec<String> = Vec::new();
        for word in text_words(bare) {
            if !words.contains(&word) {
                words.push(word);
            }
        }
        let phrases = phrases
            .into_iter()
            .filter(|p| !text_words(p).is_empty())
            .collect();
        Self { words, phrases }
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty() && self.phrases.is_empty()
    }
}

/// Whether `wanted` (a [`text_words`] word) is in `text`: one of its words, or a part of one.
pub fn text_has_word(text: &str, wanted: &str) -> bool {
    text_words(text)
        .iter()
        .any(|w| w == wanted || word_parts(w).iter().any(|p| p == wanted))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_lower_case_runs_of_letters_and_digits() {
        assert_eq!(
            text_words("TOTAL: 42.50 EUR — Merci!"),
            ["total", "42", "50", "eur", "merci"]
        );
    }

    #[test]
    fn run_together_words_hold_their_parts() {
        let parts = word_parts("cometzephyrsparrow");
        for word in ["comet", "zephyr", "sparrow"] {
            assert!(parts.contains(&word.to_string()), "{word} in {parts:?}");
        }
        assert!(!parts.contains(&"cometzephyrsparrow".to_string()));
        assert!(parts.iter().all(|p| p.chars().count() >= MIN_PART_CHARS));
        assert!(text_has_word("COMETZEPHYRSPARROW", "zephyr"));
        assert!(text_has_word("comet zephyr", "zephyr"));
    }

    #[test]
    fn short_words_and_numbers_are_not_split() {
        assert!(word_parts("sparrow").is_empty(), "7 letters");
        assert!(word_parts("invoice2024").is_empty(), "digits");
        // "art" is shorter than any part: a search for it never matches inside "startling".
        assert!(!text_has_word("startling news", "art"));
        assert!(!text_has_word("invoice2024", "2024"));
    }
}
