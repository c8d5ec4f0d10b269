//! HNSW parameters of the library's usearch index (defined by the catalog, which builds it), and
//! the thresholds for exact scans; measured by this crate's recall test (`tests/hnsw_recall.rs`).
//!
//! usearch's names: `connectivity` is HNSW's M (edges per node), `expansion_add` is
//! efConstruction, `expansion_search` is ef. A search explores `max(k, expansion_search)`
//! candidates, so asking for a large `k` also widens it.
//!
//! Measured recall@10 on 100,000 random unit vectors (f16, cosine, M 16, efConstruction 128),
//! by ef: dim 64 — 128: 0.66, 512: 0.95, 1024: 0.99, 2048: 0.999; dim 128 — 512: 0.74,
//! 1024: 0.91, 2048: 0.98, 4096: 0.995; dim 512 — 512: 0.33, 2048: 0.73, 4096: 0.90,
//! 8192: 0.98. Random directions are the worst case for a graph index (real CLIP embeddings
//! cluster and behave like far lower-dimensional data), so ef 4096 is a conservative default;
//! a query costs a few milliseconds per thousand ef on 100k vectors. It applies to libraries
//! under `magpie_catalog::TUNE_MIN_VECTORS`; bigger ones search at the breadth measured on their
//! own vectors (`magpie_catalog::SearchTuning`, shown by `magpie library stats`).

/// Edges per node (M), candidate list while inserting (efConstruction) and while searching (ef):
/// the catalog's, so the recall test measures what the library really does.
pub use magpie_catalog::{CONNECTIVITY, EXPANSION_ADD, EXPANSION_SEARCH};

/// Allowed sets smaller than this are ranked by an exact scan instead of a filtered graph walk:
/// a walk that rejects most nodes can miss results, while scoring 2,000 vectors costs ~1 ms.
pub const EXACT_SCAN_MAX_IDS: usize = 2000;
/// …or smaller than this share of the library.
pub const EXACT_SCAN_MAX_FRACTION: f64 = 0.05;
