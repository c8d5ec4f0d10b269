//! The search request and response, shared by the CLI (`--json`) and the web API.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::fusion::SearchMode;
use crate::query::{parse_query, QueryError, QueryTerm};
use crate::sort::SortOrder;
use magpie_catalog::Filters;

/// Default page size.
pub const DEFAULT_LIMIT: usize = 50;
/// Largest page size.
pub const MAX_LIMIT: usize = 1000;
/// Largest offset: paging deeper than this through relevance-ranked results has no use, and the
/// bound keeps `offset + limit` (the candidates to rank) small and free of overflow.
pub const MAX_OFFSET: usize = 100_000;

fn one() -> f32 {
    1.0
}

/// A text term outside the query string (the CLI's `-text "people"` is weight −1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeightedText {
    pub text: String,
    #[serde(default = "one")]
    pub weight: f32,
}

/// `--image FILE` (a file readable by the searching process).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeightedImage {
    pub path: PathBuf,
    #[serde(default = "one")]
    pub weight: f32,
}

/// `--like ID`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeightedLike {
    pub id: u64,
    #[serde(default = "one")]
    pub weight: f32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SearchRequest {
    /// The query language (see [`crate::query`]); may be empty when images or likes are given.
    pub query: String,
    pub texts: Vec<WeightedText>,
    pub images: Vec<WeightedImage>,
    pub like: Vec<WeightedLike>,
    pub filters: Filters,
    pub mode: SearchMode,
    pub sort: SortOrder,
    pub limit: usize,
    pub offset: usize,
    /// Replaces the adaptive cutoff: keep vector hits with cosine ≥ this.
    pub min_score: Option<f32>,
    /// Embed text as written, without prompt ensembles.
    pub raw: bool,
    /// The query's language (a BCP-47 tag such as `es` or a FLORES-200 code such as `spa_Latn`),
    /// for models whose queries carry one (NLLB); others ignore it.
    pub language: Option<String>,
}

impl Default for SearchRequest {
    fn default() -> Self {
        Self {
            query: String::new(),
            texts: Vec::new(),
            images: Vec::new(),
            like: Vec::new(),
            filters: Filters::default(),
            mode: SearchMode::default(),
            sort: SortOrder::default(),
            limit: DEFAULT_LIMIT,
            offset: 0,
            min_score: None,
            raw: false,
            language: None,
        }
    }
}

impl SearchRequest {
    /// A text query with every other setting at its default.
    pub fn text(query: impl Into<String>) -> Self {
        Self {
            query: query.into(),
            ..Self::default()
        }
    }

    /// What the image-text search of this request looks for (see
    /// [`crate::query::image_text_query`]).
    pub fn image_text_query(&self) -> Result<Option<magpie_catalog::words::TextQuery>, QueryError> {
        Ok(crate::query::image_text_query(&self.terms()?, &self.query))
    }

    /// All terms: the parsed query string, then texts, images and likes.
    pub fn terms(&self) -> Result<Vec<QueryTerm>, QueryError> {
        let mut terms = if self.query.trim().is_empty() {
            Vec::new()
        } else {
            parse_query(&self.query)?
        };
        terms.extend(
            self.texts
                .iter()
                .map(|t| QueryTerm::text(&t.text).with_weight(t.weight)),
        );
        terms.extend(
            self.images
                .iter()
                .map(|i| QueryTerm::image(&i.path).with_weight(i.weight)),
        );
        terms.extend(
            self.like
                .iter()
                .map(|l| QueryTerm::like(l.id).with_weight(l.weight)),
        );
        Ok(terms)
    }
}

/// One result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    pub id: u64,
    /// The ranking score: cosine (vector mode), BM25 (keyword mode) or fused RRF (hybrid; ≥ 1
    /// marks an exact file-name match).
    pub score: f32,
    /// Cosine similarity to the query vector, when the image was in the vector ranking.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vector_score: Option<f32>,
    /// BM25 score, when the image matched the keywords.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keyword_score: Option<f32>,
    /// BM25 score of the query against the text read in the image (OCR), when it matched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_score: Option<f32>,
}

/// Why an image is in the results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MatchKind {
    /// By meaning: the vector ranking.
    Meaning,
    /// By file name, path, camera, tags or EXIF text: the keyword ranking.
    Name,
    /// By the text printed in the image (OCR).
    Text,
}

impl MatchKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Meaning => "meaning",
            Self::Name => "name",
            Self::Text => "text",
        }
    }
}

impl Hit {
    /// How the image matched, strongest evidence last: meaning, name, text.
    pub fn matched(&self) -> Vec<MatchKind> {
        [
            (self.vector_score, MatchKind::Meaning),
            (self.keyword_score, MatchKind::Name),
            (self.text_score, MatchKind::Text),
        ]
        .into_iter()
        .filter_map(|(score, kind)| score.map(|_| kind))
        .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchResponse {
    /// The requested page.
    pub hits: Vec<Hit>,
    /// Results after the cutoff, before pagination.
    pub total: usize,
    /// The lowest cosine the cutoff kept (or `--min-score`); absent without a vector ranking.
    pub cutoff_score: Option<f32>,
    pub took_ms: u64,
    /// The language code the query text was embedded in, for models that take one (the
    /// request's, or the model's default when it named none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::TermKind;

    #[test]
    fn json_defaults_and_unknown_fields() {
        let request: SearchRequest = serde_json::from_str(r#"{"query":"dog"}"#).unwrap();
        assert_eq!(request, SearchRequest::text("dog"));
        assert_eq!(request.limit, DEFAULT_LIMIT);
        let full: SearchRequest = serde_json::from_str(
            r#"{"query":"red","images":[{"path":"a.jpg"}],"like":[{"id":7,"weight":0.5}],
                "texts":[{"text":"people","weight":-1}],"filters":{"extensions":["jpg"]},
                "mode":"vector","sort":"date","limit":10,"offset":20,"min_score":0.2,"raw":true}"#,
        )
        .unwrap();
        assert_eq!(full.mode, SearchMode::Vector);
        assert_eq!(full.sort, SortOrder::Date);
        assert!(serde_json::from_str::<SearchRequest>(r#"{"qeury":"dog"}"#).is_err());
        assert!(serde_json::from_str::<SearchRequest>(r#"{"mode":"fuzzy"}"#).is_err());
    }

    #[test]
    fn terms_gather_every_source() {
        let request = SearchRequest {
            query: "red car".into(),
            texts: vec![WeightedText {
                text: "people".into(),
                weight: -1.0,
            }],
            images: vec![WeightedImage {
                path: "a.jpg".into(),
                weight: 1.0,
            }],
            like: vec![WeightedLike { id: 3, weight: 2.0 }],
            ..SearchRequest::default()
        };
        let terms = request.terms().unwrap();
        assert_eq!(terms.len(), 4);
        assert_eq!(terms[1].weight, -1.0);
        assert_eq!(terms[2].kind, TermKind::Image("a.jpg".into()));
        assert_eq!(terms[3], QueryTerm::like(3).with_weight(2.0));
        assert!(SearchRequest::default().terms().unwrap().is_empty());
    }

    #[test]
    fn hits_omit_missing_scores() {
        let hit = Hit {
            id: 1,
            score: 0.5,
            vector_score: Some(0.5),
            keyword_score: None,
            text_score: None,
        };
        assert_eq!(
            serde_json::to_string(&hit).unwrap(),
            r#"{"id":1,"score":0.5,"vector_score":0.5}"#
        );
    }
}
