//! `magpie-shard`: embedding a huge photo collection on many hosts, one shard per job, into
//! clip-retrieval's file layout, and reading the shards back.
//!
//! A photo's shard and id are hashes of its path ([`shard_of`], [`image_id`]), so hosts need no
//! coordination: `magpie embed-shard --shard K/N` on each of N hosts (Ray jobs) crawls the roots
//! (or reads a file list), keeps the files of shard K, runs them through the indexer's pipeline
//! — the same decoding, thumbnails, metadata and batched embedding as `magpie index` — and writes:
//!
//! ```text
//! DIR/img_emb/img_emb_K.npy              embeddings, rows × dims, <f2 (default) or <f4, L2-normalised
//! DIR/metadata/metadata_K.parquet        one row per embedding (image_path, id, size, EXIF…)
//! DIR/thumbs/shard_K/<id:016x>.*.jpg     grid and preview thumbnails
//! DIR/shards/shard_K.json                the manifest: model, counts, checksums, input, failures
//! ```
//!
//! A re-run skips a shard whose files are whole and whose input and model are unchanged
//! ([`ShardTarget::freshness`]); otherwise only that shard's files are replaced. [`ShardSet`]
//! opens and validates a folder of shards and reads their rows as library records
//! (`magpie_catalog::ImageRecord`, built by the indexer's one [`image_record`] function).
//!
//! [`image_record`]: magpie_indexer::library::image_record

mod error;
mod fsutil;
pub mod layout;
pub mod manifest;
pub mod npy;
pub mod progress;
pub mod read;
pub mod select;
pub mod table;
pub mod write;

pub use error::ShardError;
pub use layout::ShardLayout;
pub use magpie_catalog::ThumbKind;
pub use manifest::{ShardFailure, ShardFile, ShardManifest, MANIFEST_FORMAT};
pub use npy::Dtype;
pub use progress::{ShardProgress, PROGRESS_PREFIX};
pub use read::ShardSet;
pub use select::{image_id, path_hash, shard_of, ShardSelection};
pub use table::ShardRow;
pub use write::{Freshness, ShardInput, ShardReport, ShardTarget};
