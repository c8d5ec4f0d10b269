//! Merges the vector ranking, the keyword ranking and the image-text (OCR) ranking.
//!
//! Hybrid mode uses reciprocal-rank fusion (Cormack, Clarke & Büttcher, 2009):
//! `score(d) = Σ_lists 1 / (k + rank(d))` with ranks from 1 and `k = 60`, the paper's value,
//! which damps the difference between the first few ranks so neither list dominates and scores
//! on different scales (cosine vs BM25) never need calibrating against each other.
//!
//! A file whose name *is* the query ("IMG_2041" → `IMG_2041.JPG`) is what the user meant, so
//! exact-name keyword matches get [`EXACT_NAME_BONUS`] on top; it exceeds any RRF sum (at most
//! `2 / (k + 1)`), which puts them first.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

/// The RRF constant.
pub const RRF_K: f32 = 60.0;

/// Added to the fused score of an exact file-name match; larger than any RRF sum.
pub const EXACT_NAME_BONUS: f32 = 1.0;

/// Added to the fused score of an image whose text (OCR) holds every word and phrase of the
/// query: "the receipt that says 42.50" means the image where 42.50 is printed, whatever CLIP
/// thinks of it. Larger than any RRF sum, smaller than [`EXACT_NAME_BONUS`] (a file the query
/// names is more certainly meant than one that shows the words).
pub const TEXT_MATCH_BONUS: f32 = 0.5;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SearchMode {
    /// Semantic only: score = cosine.
    Vector,
    /// Keywords only: score = BM25.
    Keyword,
    /// Both, fused by RRF.
    #[default]
    Hybrid,
}

impl std::str::FromStr for SearchMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "vector" => Ok(Self::Vector),
            "keyword" => Ok(Self::Keyword),
            "hybrid" => Ok(Self::Hybrid),
            other => Err(format!(
                "unknown mode {other:?} (vector, keyword or hybrid)"
            )),
        }
    }
}

/// One ranked result before sorting and pagination.
#[derive(Debug, Clone, PartialEq)]
pub struct Fused {
    pub id: u64,
    pub score: f32,
    pub vector_score: Option<f32>,
    pub keyword_score: Option<f32>,
    /// BM25 of the query against the image's text, when it matched.
    pub text_score: Option<f32>,
}

/// Merges `vector` (cosines, best first), `keyword` (BM25 over names and metadata, best first)
/// and `image_text` (BM25 over the text read in the images, best first, each flagged when it
/// holds the whole query) according to `mode`. `exact_names` are keyword hits whose file name
/// equals the query. Sorted best first, equal scores in `ties` order
/// ([`crate::sort::TieOrder::cmp`]).
///
/// Keyword mode adds the two BM25 scores (one index, one scale); hybrid fuses all three lists by
/// RRF with the bonuses above; vector mode ranks by cosine alone.
pub fn fuse(
    mode: SearchMode,
    vector: &[(u64, f32)],
    keyword: &[(u64, f32)],
    exact_names: &HashSet<u64>,
    image_text: &[(u64, f32, bool)],
    ties: &dyn Fn(u64, u64) -> std::cmp::Ordering,
) -> Vec<Fused> {
    let mut merged: HashMap<u64, Fused> = HashMap::new();
    fn entry(merged: &mut HashMap<u64, Fused>, id: u64) -> &mut Fused {
        merged.entry(id).or_insert(Fused {
            id,
            score: 0.0,
            vector_score: None,
            keyword_score: None,
            text_score: None,
        })
    }
    if mode != SearchMode::Keyword {
        for (rank, &(id, score)) in vector.iter().enumerate() {
            let hit = entry(&mut merged, id);
            hit.vector_score = Some(score);
            hit.score += match mode {
                SearchMode::Hybrid => reciprocal_rank(rank),
                _ => score,
            };
        }
    }
    if mode != SearchMode::Vector {
        for (rank, &(id, score)) in keyword.iter().enumerate() {
            let hit = entry(&mut merged, id);
            hit.keyword_score = Some(score);
            hit.score += match mode {
                SearchMode::Hybrid => {
                    reciprocal_rank(rank)
                        + if exact_names.contains(&id) {
                            EXACT_NAME_BONUS
                        } else {
                            0.0
                        }
                }
                _ => score,
            };
        }
        for (rank, &(id, score, complete)) in image_text.iter().enumerate() {
            let hit = entry(&mut merged, id);
            hit.text_score = Some(score);
            hit.score += match mode {
                SearchMode::Hybrid => {
                    reciprocal_rank(rank) + if complete { TEXT_MATCH_BONUS } else { 0.0 }
                }
                _ => score,
            };
        }
    }
    let mut fused: Vec<Fused> = merged.into_values().collect();
    fused.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| ties(a.id, b.id)));
    fused
}

fn reciprocal_rank(zero_based_rank: usize) -> f32 {
    1.0 / (RRF_K + zero_based_rank as f32 + 1.0)
}

/// Case-, separator- and extension-insensitive comparison of a query with a file name:
/// "img 2041", "IMG_2041" and "img-2041.jpg" all name `IMG_2041.JPG`.
pub fn names_file(query: &str, file_name: &str) -> bool {
    let query = squash(query);
    if query.is_empty() {
        return false;
    }
    let stem = match file_name.rsplit_once('.') {
        Some((stem, _)) if !stem.is_empty() => stem,
        _ => file_name,
    };
    query == squash(stem) || query == squash(file_name)
}

fn squash(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn by_id(a: u64, b: u64) -> std::cmp::Ordering {
        a.cmp(&b)
    }

    fn ids(fused: &[Fused]) -> Vec<u64> {
        fused.iter().map(|f| f.id).collect()
    }

    #[test]
    fn rrf_rewards_agreement() {
        let vector = [(1, 0.9), (2, 0.8), (3, 0.7)];
        let keyword = [(3, 12.0), (4, 11.0)];
        let fused = fuse(
            SearchMode::Hybrid,
            &vector,
            &keyword,
            &HashSet::new(),
            &[],
            &by_id,
        );
        // 3 is in both lists, so it beats 1 (first in one list only).
        assert_eq!(ids(&fused), vec![3, 1, 2, 4]); // 2 and 4 tie at 1/62: by id
        let three = &fused[0];
        assert_eq!(three.vector_score, Some(0.7));
        assert_eq!(three.keyword_score, Some(12.0));
        assert!((three.score - (1.0 / 63.0 + 1.0 / 61.0)).abs() < 1e-6);
    }

    #[test]
    fn exact_name_match_goes_first() {
        let vector: Vec<(u64, f32)> = (1..=50).map(|i| (i, 1.0 - i as f32 / 100.0)).collect();
        // 99 is ranked 3rd by keywords and absent from the vector list.
        let keyword = [(1, 9.0), (2, 8.0), (99, 7.0)];
        let fused = fuse(
            SearchMode::Hybrid,
            &vector,
            &keyword,
            &HashSet::from([99]),
            &[],
            &by_id,
        );
        assert_eq!(fused[0].id, 99);
        assert_eq!(ids(&fused[1..3]), vec![1, 2]);
    }

    #[test]
    fn single_modes_keep_their_own_scores() {
        let vector = [(1, 0.9), (2, 0.8)];
        let keyword = [(3, 5.0)];
        let v = fuse(
            SearchMode::Vector,
            &vector,
            &keyword,
            &HashSet::new(),
            &[],
            &by_id,
        );
        assert_eq!(ids(&v), vec![1, 2]);
        assert_eq!(v[0].score, 0.9);
        let k = fuse(
            SearchMode::Keyword,
            &vector,
            &keyword,
            &HashSet::new(),
            &[],
            &by_id,
        );
        assert_eq!(ids(&k), vec![3]);
        assert_eq!(k[0].score, 5.0);
    }

    #[test]
    fn name_matching_ignores_case_separators_and_extension() {
        assert!(names_file("IMG_2041", "IMG_2041.JPG"));
        assert!(names_file("img 2041", "IMG_2041.JPG"));
        assert!(names_file("img_2041.jpg", "IMG_2041.JPG"));
        assert!(!names_file("IMG_204", "IMG_2041.JPG"));
        assert!(!names_file("lisbon", "IMG_2041.JPG"));
        assert!(!names_file("!!", "IMG_2041.JPG"));
        assert!(names_file("README", "README"));
    }

    #[test]
    fn mode_parses() {
        assert_eq!("hybrid".parse::<SearchMode>(), Ok(SearchMode::Hybrid));
        assert!("semantic".parse::<SearchMode>().is_err());
        assert_eq!(SearchMode::default(), SearchMode::Hybrid);
    }

    #[test]
    fn an_image_showing_every_query_word_ranks_first_below_an_exact_name() {
        // 7 is the vector list's first; 8 shows every word of the query; 9 only some.
        let vector = [(7, 0.31), (8, 0.2), (9, 0.19)];
        let text = [(9, 4.0, false), (8, 3.0, true)];
        let fused = fuse(
            SearchMode::Hybrid,
            &vector,
            &[],
            &HashSet::new(),
            &text,
            &by_id,
        );
        assert_eq!(ids(&fused), [8, 9, 7]);
        assert_eq!(fused[0].text_score, Some(3.0));
        let named = fuse(
            SearchMode::Hybrid,
            &vector,
            &[(7, 1.0)],
            &HashSet::from([7]),
            &text,
            &by_id,
        );
        assert_eq!(
            ids(&named)[0],
            7,
            "a file the query names still comes first"
        );
        let keyword = fuse(
            SearchMode::Keyword,
            &vector,
            &[(8, 2.0)],
            &HashSet::new(),
            &text,
            &by_id,
        );
        assert_eq!(
            ids(&keyword),
            [8, 9],
            "BM25 sums in keyword mode: 3.0 + 2.0 over 4.0"
        );
        assert_eq!(keyword[0].score, 5.0);
        let vector_only = fuse(
            SearchMode::Vector,
            &vector,
            &[],
            &HashSet::new(),
            &text,
            &by_id,
        );
        assert!(vector_only.iter().all(|f| f.text_score.is_none()));
    }
}
