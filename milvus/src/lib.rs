//! Magpie on Milvus: the vectors of a collection too large for one machine, held and searched by
//! a Milvus cluster, fed from the shards that `magpie embed-shard` writes (`magpie-shard`).
//!
//! - [`load`]: `magpie milvus load` creates the collection (the vector field, the metadata the
//!   filters need as scalar fields, an HNSW index, the model in its properties) and upserts every
//!   shard row by its id (the hash of its path), so loading twice changes nothing.
//! - [`MilvusIndex`]: the searcher's [`magpie_searcher::SearchIndex`] over a collection. Milvus
//!   answers the vector ranking, with the filters as Milvus expressions ([`expr`]), and holds the
//!   embeddings; the serving host answers what Milvus cannot rank — keywords over names, paths
//!   and EXIF (BM25) — from a [`magpie_catalog::KeywordIndex`] built from the same shards, so
//!   the keyword ranking and each hit's record are the local library's.
//! - [`client`]: the official SDK (`milvus-sdk-rust`, async) behind a small blocking client with
//!   bounded timeouts, whose every error names the server's address.

pub mod address;
pub mod client;
pub mod error;
pub mod expr;
pub mod index;
pub mod keywords;
pub mod load;
pub mod schema;
pub mod service;

pub use address::{Backend, MilvusAddress};
pub use client::Milvus;
pub use error::MilvusError;
pub use index::MilvusIndex;
pub use load::{load, LoadOptions, LoadSummary, VectorType};
pub use service::MilvusService;
