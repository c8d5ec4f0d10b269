//! On a library of 10,000 images the searcher over a usearch HNSW index ranks exactly like a
//! brute-force cosine scan: same ids, same order, up to ties.
//!
//! HNSW is approximate, so exactness needs a search wide enough to be exhaustive in practice on
//! 10,000 vectors: connectivity 16, expansion_add 128, and `magpie_searcher::hnsw::
//! EXPANSION_SEARCH` (4096); the searcher asks for its candidate pool (500), so usearch explores
//! max(500, 4096) candidates. Vectors are f32 so scores match brute force to ~1e-6.

mod common;

use std::sync::Arc;

use common::memory_index::{record, Image, MemoryIndex};
use common::vectors::Rng;
use magpie_searcher::vector::cosine;
use magpie_searcher::{
    hnsw, BackendError, EmbeddingCache, SearchMode, SearchRequest, SearchResponse, Searcher,
    SearcherConfig, TextEmbedder,
};

const COUNT: u64 = 10_000;
const DIM: usize = 128;
const QUERIES: u64 = 30;
const TIE: f32 = 1e-5;

/// "q17" embeds as the 17th random query direction.
struct SeededText;

impl TextEmbedder for SeededText {
    fn embed_texts(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, BackendError> {
        texts
            .iter()
            .map(|t| {
                let seed: u64 = t.trim_start_matches('q').parse()?;
                Ok(Rng::new(1_000_000 + seed).unit_vector(DIM))
            })
            .collect()
    }
    fn model_key(&self) -> String {
        "seeded".into()
    }
}

fn library() -> Vec<Image> {
    let mut rng = Rng::new(99);
    (0..COUNT)
        .map(|id| Image {
            id,
            embedding: rng.unit_vector(DIM),
            record: record(id, &format!("/lib/{id}.jpg"), 0, 0),
        })
        .collect()
}

/// Every HNSW hit is the brute-force hit at its position, or ties with it.
fn assert_same_up_to_ties(
    hnsw: &SearchResponse,
    exact: &SearchResponse,
    query: &[f32],
    index: &MemoryIndex,
) {
    assert_eq!(hnsw.hits.len(), exact.hits.len());
    for (position, (h, e)) in hnsw.hits.iter().zip(&exact.hits).enumerate() {
        if h.id != e.id {
            let embedding = &index.images[h.id as usize].embedding;
            let true_score = cosine(query, embedding);
            assert!(
                (true_score - e.score).abs() <= TIE,
                "position {position}: hnsw {} ({true_score}) vs exact {} ({})",
                h.id,
                e.id,
                e.score
            );
        }
        assert!((h.score - e.score).abs() <= TIE);
    }
}

#[test]
fn hnsw_ranking_equals_brute_force_on_10k_images() {
    let exact = MemoryIndex::new("seeded", library());
    let approximate = MemoryIndex::new("seeded", library()).with_hnsw(
        hnsw::CONNECTIVITY,
        hnsw::EXPANSION_ADD,
        hnsw::EXPANSION_SEARCH,
    );
    let searcher = Searcher::new(
        Arc::new(SeededText),
        None,
        Arc::new(EmbeddingCache::new(64, None)),
        SearcherConfig::default(),
    );
    for q in 0..QUERIES {
        let query = SeededText
            .embed_texts(&[&format!("q{q}")])
            .unwrap()
            .remove(0);
        // The whole candidate pool, no cutoff: the raw ranking.
        let ranking = SearchRequest {
            mode: SearchMode::Vector,
            raw: true,
            min_score: Some(-1.0),
            limit: 500,
            ..SearchRequest::text(format!("q{q}"))
        };
        let a = searcher.search(&approximate, &ranking).unwrap();
        let e = searcher.search(&exact, &ranking).unwrap();
        assert_eq!(e.hits.len(), 500);
        assert_same_up_to_ties(&a, &e, &query, &exact);

        // The full pipeline, adaptive cutoff included.
        let default = SearchRequest {
            raw: true,
            limit: 500,
            ..SearchRequest::text(format!("q{q}"))
        };
        let a = searcher.search(&approximate, &default).unwrap();
        let e = searcher.search(&exact, &default).unwrap();
        assert_eq!(a.total, e.total);
        assert_same_up_to_ties(&a, &e, &query, &exact);
    }
}
