//! The query language: free text, weighted terms, negative terms, images.
//!
//! Grammar (whitespace separates chunks; double quotes group words into one chunk):
//! - bare words are joined, in order, into ONE text term of weight 1, so
//!   `kids on a beach at sunset` is one description, not six;
//! - `"red car"`: a quoted phrase is its own term (weight 1);
//! - `N:text` or `"N:text with spaces"`: weight `N` (e.g. `2:red`, `"2:red car"`, `0.5:"at night"`);
//! - `+text`: its own term, weight +1 (explicit, e.g. to keep it apart from the bare words);
//! - `-text`: weight −1; `-0.5:night`: weight −0.5.
//!
//! `N:` is a weight only when the character after the colon is not a digit, so `10:30` stays
//! text. Weights are finite, non-zero and at most [`MAX_WEIGHT`] in size.
//!
//! Input longer than [`MAX_QUERY_BYTES`] is rejected with an error rather than truncated: CLIP
//! reads at most 77 tokens per text anyway, so such input is a mistake (a pasted file), and
//! silently searching for its first sentence would be more confusing than saying so.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Longest accepted query text, in bytes.
pub const MAX_QUERY_BYTES: usize = 4096;
/// Most terms in one query: each distinct text term costs a model run on a cold cache.
pub const MAX_TERMS: usize = 32;
/// Largest accepted weight magnitude.
pub const MAX_WEIGHT: f32 = 100.0;

/// What one term of a query refers to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TermKind {
    /// A description, embedded by the text tower.
    Text(String),
    /// An image file, embedded by the image tower.
    Image(PathBuf),
    /// An image already in the library, by id: its stored embedding.
    Like(u64),
}

/// One weighted term; the query vector is the normalised weighted sum of the terms' vectors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueryTerm {
    pub weight: f32,
    pub kind: TermKind,
}

impl QueryTerm {
    /// Text with weight 1 (whitespace collapsed).
    pub fn text(text: impl AsRef<str>) -> Self {
        Self {
            weight: 1.0,
            kind: TermKind::Text(collapse_whitespace(text.as_ref())),
        }
    }

    /// `--image FILE`: weight 1.
    pub fn image(path: impl Into<PathBuf>) -> Self {
        Self {
            weight: 1.0,
            kind: TermKind::Image(path.into()),
        }
    }

    /// `--like ID`: weight 1.
    pub fn like(id: u64) -> Self {
        Self {
            weight: 1.0,
            kind: TermKind::Like(id),
        }
    }

    pub fn with_weight(mut self, weight: f32) -> Self {
        self.weight = weight;
        self
    }

    /// The CLI's `-text "people"`: the same term pushed away (weight −1).
    pub fn negated(mut self) -> Self {
        self.weight = -self.weight;
        self
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QueryError {
    #[error("the query is empty: give some text, --image FILE or --like ID")]
    Empty,
    #[error("the query is {len} bytes long; the limit is {max} (CLIP reads only ~77 tokens)")]
    TooLong { len: usize, max: usize },
    #[error("the query has {count} terms; the limit is {max}")]
    TooManyTerms { count: usize, max: usize },
    #[error("unterminated quote in the query: {0}")]
    UnterminatedQuote(String),
    #[error("{chunk:?} has no text after its sign or weight")]
    EmptyTerm { chunk: String },
    #[error("invalid weight in {chunk:?}: weights must be non-zero and at most {max} in size")]
    InvalidWeight { chunk: String, max: f32 },
    #[error(
        "the query has no positive term (total positive weight is 0): \
         say what to find, not only what to avoid"
    )]
    NoPositiveWeight,
}

/// Parses the query language (see the module documentation).
pub fn parse_query(input: &str) -> Result<Vec<QueryTerm>, QueryError> {
    if input.len() > MAX_QUERY_BYTES {
        return Err(QueryError::TooLong {
            len: input.len(),
            max: MAX_QUERY_BYTES,
        });
    }
    if input.trim().is_empty() {
        return Err(QueryError::Empty);
    }
    let mut bare_words: Vec<String> = Vec::new();
    let mut bare_position = None;
    let mut terms = Vec::new();
    for chunk in split_chunks(input)? {
        match interpret_chunk(&chunk)? {
            Some(term) => terms.push(term),
            None => {
                bare_position.get_or_insert(terms.len());
                bare_words.push(chunk);
            }
        }
    }
    if let Some(position) = bare_position {
        terms.insert(position, QueryTerm::text(bare_words.join(" ")));
    }
    if terms.len() > MAX_TERMS {
        return Err(QueryError::TooManyTerms {
            count: terms.len(),
            max: MAX_TERMS,
        });
    }
    Ok(terms)
}

/// Checks a complete query (parsed text plus images and likes): not empty, not too many terms,
/// valid weights, and something positive to look for.
pub fn validate_terms(terms: &[QueryTerm]) -> Result<(), QueryError> {
    if terms.is_empty() {
        return Err(QueryError::Empty);
    }
    if terms.len() > MAX_TERMS {
        return Err(QueryError::TooManyTerms {
            count: terms.len(),
            max: MAX_TERMS,
        });
    }
    for term in terms {
        if !valid_weight(term.weight.abs()) {
            return Err(QueryError::InvalidWeight {
                chunk: format!("{:?}", term.kind),
                max: MAX_WEIGHT,
            });
        }
        if let TermKind::Text(text) = &term.kind {
            if text.trim().is_empty() {
                return Err(QueryError::EmptyTerm {
                    chunk: text.clone(),
                });
            }
        }
    }
    let positive: f32 = terms.iter().map(|t| t.weight.max(0.0)).sum();
    if positive <= 0.0 {
        return Err(QueryError::NoPositiveWeight);
    }
    Ok(())
}

/// The text for the keyword index: the positive text terms (negative ones are not keywords to
/// match).
pub fn keyword_text(terms: &[QueryTerm]) -> Option<String> {
    let words: Vec<&str> = terms
        .iter()
        .filter(|t| t.weight > 0.0)
        .filter_map(|t| match &t.kind {
            TermKind::Text(text) => Some(text.as_str()),
            _ => None,
        })
        .collect();
    (!words.is_empty()).then(|| words.join(" "))
}

/// What the image-text (OCR) search looks for: the words of the positive text terms
/// ([`keyword_text`]) and the query's quoted phrases; `None` when there is no text to match. The
/// one definition, used by the search and by whoever shows why a hit matched.
pub fn image_text_query(
    terms: &[QueryTerm],
    input: &str,
) -> Option<magpie_catalog::words::TextQuery> {
    keyword_text(terms)
        .map(|text| magpie_catalog::words::TextQuery::new(&text, quoted_phrases(input)))
}

/// The `"quoted phrases"` of a query (plain or with `+`; not weighted or negative ones), for the
/// image-text search, where a phrase means its words in that order. A query that does not parse
/// has none (the search reports the parse error anyway).
pub fn quoted_phrases(input: &str) -> Vec<String> {
    split_chunks(input)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|chunk| {
            let chunk = chunk.strip_prefix('+').unwrap_or(&chunk).to_string();
            let inner = chunk.strip_prefix('"')?.strip_suffix('"')?;
            (!inner.trim().is_empty()).then(|| collapse_whitespace(inner))
        })
        .collect()
}

/// Splits on whitespace outside double quotes; quotes stay in the chunk.
fn split_chunks(input: &str) -> Result<Vec<String>, QueryError> {
    let mut chunks = Vec::new();
    let mut current = String::new();
    let mut in_quotes = false;
    for c in input.chars() {
        if c == '"' {
            in_quotes = !in_quotes;
            current.push(c);
        } else if c.is_whitespace() && !in_quotes {
            if !current.is_empty() {
                chunks.push(std::mem::take(&mut current));
            }
        } else {
            current.push(c);
        }
    }
    if in_quotes {
        return Err(QueryError::UnterminatedQuote(current));
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    Ok(chunks)
}

/// A term for an explicit chunk (signed, weighted or quoted), `None` for a bare word.
fn interpret_chunk(chunk: &str) -> Result<Option<QueryTerm>, QueryError> {
    let (sign, rest) = match chunk.strip_prefix('+') {
        Some(rest) => (Some(1.0), rest),
        None => match chunk.strip_prefix('-') {
            Some(rest) => (Some(-1.0), rest),
            None => (None, chunk),
        },
    };
    let (outer_weight, rest) = split_weight(rest, chunk)?;
    let quoted = rest.contains('"');
    let unquoted: String = rest.chars().filter(|&c| c != '"').collect();
    // A weight may also sit inside the quotes: "2:red car".
    let (inner_weight, text) = if quoted && outer_weight.is_none() {
        split_weight(&unquoted, chunk)?
    } else {
        (None, unquoted.as_str())
    };
    let magnitude = outer_weight.or(inner_weight);
    if sign.is_none() && magnitude.is_none() && !quoted {
        return Ok(None);
    }
    let text = collapse_whitespace(text);
    if text.is_empty() {
        return Err(QueryError::EmptyTerm {
            chunk: chunk.to_string(),
        });
    }
    Ok(Some(QueryTerm {
        weight: sign.unwrap_or(1.0) * magnitude.unwrap_or(1.0),
        kind: TermKind::Text(text),
    }))
}

/// Splits `N:rest` into the weight and the rest, when `s` starts with a number, a colon, and a
/// non-digit.
fn split_weight<'a>(s: &'a str, chunk: &str) -> Result<(Option<f32>, &'a str), QueryError> {
    let Some((number, rest)) = s.split_once(':') else {
        return Ok((None, s));
    };
    let looks_numeric = !number.is_empty()
        && number.chars().all(|c| c.is_ascii_digit() || c == '.')
        && number.chars().any(|c| c.is_ascii_digit());
    if !looks_numeric || rest.starts_with(|c: char| c.is_ascii_digit()) {
        return Ok((None, s));
    }
    match number.parse::<f32>() {
        Ok(weight) if valid_weight(weight) => Ok((Some(weight), rest)),
        _ => Err(QueryError::InvalidWeight {
            chunk: chunk.to_string(),
            max: MAX_WEIGHT,
        }),
    }
}

fn valid_weight(magnitude: f32) -> bool {
    magnitude.is_finite() && magnitude > 0.0 && magnitude <= MAX_WEIGHT
}

fn collapse_whitespace(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(weight: f32, s: &str) -> QueryTerm {
        QueryTerm::text(s).with_weight(weight)
    }

    #[test]
    fn bare_words_are_one_term() {
        assert_eq!(
            parse_query("kids on a beach   at sunset").unwrap(),
            vec![text(1.0, "kids on a beach at sunset")]
        );
    }

    #[test]
    fn weights_signs_and_quotes() {
        assert_eq!(
            parse_query(r#""2:red car" +beach -night"#).unwrap(),
            vec![
                text(2.0, "red car"),
                text(1.0, "beach"),
                text(-1.0, "night")
            ]
        );
        assert_eq!(
            parse_query("2:red -0.5:night +1.5:\"old town\"").unwrap(),
            vec![text(2.0, "red"), text(-0.5, "night"), text(1.5, "old town")]
        );
        assert_eq!(
            parse_query(r#"-"red car" dog"#).unwrap(),
            vec![text(-1.0, "red car"), text(1.0, "dog")]
        );
    }

    #[test]
    fn bare_words_around_explicit_terms_still_join() {
        assert_eq!(
            parse_query("red -dark car").unwrap(),
            vec![text(1.0, "red car"), text(-1.0, "dark")]
        );
    }

    #[test]
    fn clock_times_and_hyphenated_words_stay_text() {
        assert_eq!(
            parse_query("sunset 10:30 t-shirt").unwrap(),
            vec![text(1.0, "sunset 10:30 t-shirt")]
        );
    }

    #[test]
    fn empty_and_whitespace_are_errors() {
        assert_eq!(parse_query(""), Err(QueryError::Empty));
        assert_eq!(parse_query(" \t\n "), Err(QueryError::Empty));
        assert!(matches!(
            parse_query("dog -"),
            Err(QueryError::EmptyTerm { .. })
        ));
        assert!(matches!(
            parse_query("2:\"\""),
            Err(QueryError::EmptyTerm { .. })
        ));
    }

    #[test]
    fn bad_weights_and_quotes_are_errors() {
        assert!(matches!(
            parse_query("0:red"),
            Err(QueryError::InvalidWeight { .. })
        ));
        assert!(matches!(
            parse_query("1000:red"),
            Err(QueryError::InvalidWeight { .. })
        ));
        assert!(matches!(
            parse_query("\"red car"),
            Err(QueryError::UnterminatedQuote(_))
        ));
    }

    #[test]
    fn only_negative_weight_is_rejected() {
        let terms = parse_query("-night -0.5:dark").unwrap();
        assert_eq!(validate_terms(&terms), Err(QueryError::NoPositiveWeight));
        assert_eq!(validate_terms(&[]), Err(QueryError::Empty));
        let mixed = vec![
            QueryTerm::image("a.jpg"),
            QueryTerm::text("people").negated(),
        ];
        assert_eq!(validate_terms(&mixed), Ok(()));
    }

    #[test]
    fn very_long_input_is_rejected_not_truncated() {
        let long = "dog ".repeat(25_000);
        assert_eq!(
            parse_query(&long),
            Err(QueryError::TooLong {
                len: 100_000,
                max: MAX_QUERY_BYTES
            })
        );
        let many = (0..40)
            .map(|i| format!("+w{i}"))
            .collect::<Vec<_>>()
            .join(" ");
        assert!(matches!(
            parse_query(&many),
            Err(QueryError::TooManyTerms { count: 40, .. })
        ));
    }

    #[test]
    fn keyword_text_uses_positive_text_only() {
        let mut terms = parse_query("IMG_2041 -night").unwrap();
        terms.push(QueryTerm::like(7));
        assert_eq!(keyword_text(&terms).as_deref(), Some("IMG_2041"));
        assert_eq!(keyword_text(&[QueryTerm::like(7)]), None);
    }

    #[test]
    fn quoted_phrases_are_found_for_the_image_text_search() {
        assert_eq!(
            quoted_phrases(r#"receipt "total  42.50" +"merci beaucoup" -"no" 2:"heavy""#),
            ["total 42.50", "merci beaucoup"]
        );
        assert!(quoted_phrases("plain words only").is_empty());
        assert!(quoted_phrases(r#"unterminated "quote"#).is_empty());
    }
}
