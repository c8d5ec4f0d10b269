//! Result order and pagination. Sorting happens after the cutoff (which decides *what* is
//! relevant), so `--sort date` orders the relevant set rather than the whole library.

use std::cell::RefCell;
use std::cmp::Ordering;
use std::collections::HashMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::backend::SearchIndex;
use crate::request::Hit;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SortOrder {
    /// Best score first.
    #[default]
    Relevance,
    /// Newest first (taken-at, falling back to mtime); undated last.
    Date,
    /// Oldest first; undated last.
    DateAsc,
}

impl std::str::FromStr for SortOrder {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "relevance" => Ok(Self::Relevance),
            "date" => Ok(Self::Date),
            "date-asc" => Ok(Self::DateAsc),
            other => Err(format!(
                "unknown sort {other:?} (relevance, date or date-asc)"
            )),
        }
    }
}

/// The one order of equal scores: by path, then id. Ids are not comparable across backends (a
/// library allocates them in indexing order, shards hash the path), paths are; so a library and
/// a Milvus collection of the same photos rank alike, ties included, and pages are stable.
/// Paths are looked up only for ties, once per id.
pub struct TieOrder<'a> {
    index: &'a dyn SearchIndex,
    paths: RefCell<HashMap<u64, Option<PathBuf>>>,
}

impl<'a> TieOrder<'a> {
    pub fn new(index: &'a dyn SearchIndex) -> Self {
        Self {
            index,
            paths: RefCell::default(),
        }
    }

    /// Ids in tie order (equal ids are equal).
    pub fn cmp(&self, a: u64, b: u64) -> Ordering {
        if a == b {
            return Ordering::Equal;
        }
        self.path(a).cmp(&self.path(b)).then(a.cmp(&b))
    }

    fn path(&self, id: u64) -> Option<PathBuf> {
        self.paths
            .borrow_mut()
            .entry(id)
            .or_insert_with(|| self.index.path(id))
            .clone()
    }

    /// Best score first, ties in tie order.
    pub fn sort_ranking(&self, ranking: &mut [(u64, f32)]) {
        ranking.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| self.cmp(a.0, b.0)));
    }
}

/// Sorts in place; ties (equal score or date) fall back to relevance, then `ties`, so pages are
/// stable.
pub fn sort_hits(
    hits: &mut [Hit],
    order: SortOrder,
    date_of: impl Fn(u64) -> Option<i64>,
    ties: &dyn Fn(u64, u64) -> Ordering,
) {
    let by_relevance =
        |a: &Hit, b: &Hit| b.score.total_cmp(&a.score).then_with(|| ties(a.id, b.id));
    match order {
        SortOrder::Relevance => hits.sort_by(by_relevance),
        SortOrder::Date | SortOrder::DateAsc => {
            let mut keyed: Vec<(Option<i64>, Hit)> =
                hits.iter().map(|h| (date_of(h.id), h.clone())).collect();
            keyed.sort_by(|(da, a), (db, b)| {
                let by_date = match (da, db) {
                    (Some(x), Some(y)) if order == SortOrder::Date => y.cmp(x),
                    (Some(x), Some(y)) => x.cmp(y),
                    (Some(_), None) => std::cmp::Ordering::Less,
                    (None, Some(_)) => std::cmp::Ordering::Greater,
                    (None, None) => std::cmp::Ordering::Equal,
                };
                by_date.then_with(|| by_relevance(a, b))
            });
            for (slot, (_, hit)) in hits.iter_mut().zip(keyed) {
                *slot = hit;
            }
        }
    }
}

/// The page `[offset, offset + limit)`.
pub fn paginate<T>(items: Vec<T>, offset: usize, limit: usize) -> Vec<T> {
    items.into_iter().skip(offset).take(limit).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(id: u64, score: f32) -> Hit {
        Hit {
            id,
            score,
            vector_score: Some(score),
            keyword_score: None,
            text_score: None,
        }
    }

    fn ids(hits: &[Hit]) -> Vec<u64> {
        hits.iter().map(|h| h.id).collect()
    }

    fn date(id: u64) -> Option<i64> {
        match id {
            1 => Some(300),
            2 => None,
            3 => Some(100),
            4 => Some(300),
            _ => Some(200),
        }
    }

    #[test]
    fn relevance_then_id() {
        let mut hits = vec![hit(3, 0.5), hit(1, 0.9), hit(2, 0.5)];
        sort_hits(&mut hits, SortOrder::Relevance, date, &|a, b| a.cmp(&b));
        assert_eq!(ids(&hits), vec![1, 2, 3]);
    }

    #[test]
    fn date_orders_with_undated_last_and_ties_by_relevance() {
        let mut hits = vec![
            hit(1, 0.2),
            hit(2, 0.9),
            hit(3, 0.5),
            hit(4, 0.8),
            hit(5, 0.1),
        ];
        sort_hits(&mut hits, SortOrder::Date, date, &|a, b| a.cmp(&b));
        assert_eq!(ids(&hits), vec![4, 1, 5, 3, 2]);
        sort_hits(&mut hits, SortOrder::DateAsc, date, &|a, b| a.cmp(&b));
        assert_eq!(ids(&hits), vec![3, 5, 4, 1, 2]);
    }

    #[test]
    fn pages() {
        assert_eq!(paginate(vec![1, 2, 3, 4, 5], 1, 2), vec![2, 3]);
        assert_eq!(paginate(vec![1, 2, 3], 5, 2), Vec::<i32>::new());
        assert_eq!(paginate(vec![1, 2, 3], 2, 10), vec![3]);
    }

    #[test]
    fn parses_and_serialises() {
        assert_eq!("date-asc".parse::<SortOrder>(), Ok(SortOrder::DateAsc));
        assert!("size".parse::<SortOrder>().is_err());
        assert_eq!(
            serde_json::to_string(&SortOrder::DateAsc).unwrap(),
            r#""date-asc""#
        );
    }
}
