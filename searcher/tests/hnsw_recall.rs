//! HNSW recall@10 on 100,000 random unit vectors against exact search, with the parameters in
//! `magpie_searcher::hnsw` (the ones the catalog builds its index with).
//!
//! Random directions are the hardest case for a graph index (the intrinsic dimension is the
//! full dimension; real CLIP embeddings cluster), so passing here leaves margin on real data.

mod common;

use common::vectors::{brute_force_top_k, build_usearch, HnswParams, Rng};
use magpie_searcher::hnsw;
use usearch::ScalarKind;

const COUNT: usize = 100_000;
/// 512 would take ~90 s to build on two cores in a debug test run; 128 keeps the test near
/// 30 s and is still a hard case (see `magpie_searcher::hnsw` for the 512-d measurements).
const DIM: usize = 128;
const QUERIES: usize = 200;
const K: usize = 10;

#[test]
fn hnsw_recall_at_10_on_100k_random_unit_vectors() {
    let mut rng = Rng::new(0x5eed);
    let vectors: Vec<Vec<f32>> = (0..COUNT).map(|_| rng.unit_vector(DIM)).collect();
    let params = HnswParams {
        connectivity: hnsw::CONNECTIVITY,
        expansion_add: hnsw::EXPANSION_ADD,
        expansion_search: hnsw::EXPANSION_SEARCH,
    };
    let index = build_usearch(&vectors, ScalarKind::F16, params, 2);

    let queries: Vec<Vec<f32>> = (0..QUERIES).map(|_| rng.unit_vector(DIM)).collect();
    let truth: Vec<Vec<(u64, f32)>> = std::thread::scope(|scope| {
        let halves: Vec<_> = queries
            .chunks(QUERIES / 2)
            .map(|chunk| {
                let vectors = &vectors;
                scope.spawn(move || {
                    chunk
                        .iter()
                        .map(|q| brute_force_top_k(vectors, q, K))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        halves.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });

    let mut found = 0usize;
    for (query, exact) in queries.iter().zip(&truth) {
        let matches = index.search(query, K).expect("search");
        found += matches
            .keys
            .iter()
            .filter(|key| exact.iter().any(|(id, _)| id == *key))
            .count();
    }
    let recall = found as f64 / (QUERIES * K) as f64;
    println!(
        "HNSW recall@{K} = {recall:.4} over {QUERIES} queries; {COUNT} random unit vectors, \
         dim {DIM}, f16, cosine, connectivity {}, expansion_add {}, expansion_search {}",
        params.connectivity, params.expansion_add, params.expansion_search
    );
    assert!(recall >= 0.98, "recall@{K} = {recall:.4} < 0.98");
}
