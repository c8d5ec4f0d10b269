//! Magpie's indexer: crawl the photo roots, plan incremental changes, decode each new or changed
//! photo once (model input + thumbnails + metadata), embed in batches, commit to the catalog.
//!
//! The pipeline's logic (crawl, planning, decode workers, batching, commits) is written against the
//! small traits in [`backend`], so it is tested with in-crate fakes. This crate also provides the
//! adapters to the real stack in [`library`]: `ModelDecoder` and `ModelEmbedder` (`magpie-models`)
//! and `CatalogSink` (the `magpie-catalog` writer), wired together by [`library::index`], which is
//! what `magpie index` and `magpie watch` call; [`reembed`] builds on it for
//! `magpie library reembed`. [`text_stage`] reads the words in indexed images (OCR), as its own
//! stage after embedding.
//!
//! One run, as [`library::index`] does it:
//! ```text
//! let found = crawl(&roots, &options)?;
//! let plan = plan_changes(known_files(&writer)?, &found, &Blake3Hasher);
//! let summary = apply_plan(plan, found.failures, decoder, embedder, &mut sink, &config, &progress, &cancel)?;
//! ```

pub mod backend;
pub mod changes;
pub mod crawl;
pub mod error;
pub mod library;
pub mod metadata;
pub mod pipeline;
pub mod prepare;
pub mod progress;
pub mod reembed;
pub mod sniff;
pub mod text_stage;
pub mod thumbs;

pub use backend::{
    Commit, DecodeFailure, DecodedPhoto, ImageEmbedder, IndexedPhoto, PhotoDecoder, Sink,
};
pub use changes::{
    plan_changes, Blake3Hasher, ContentHash, ContentHasher, Job, JobKind, KnownFile, Move, Plan,
    Touch,
};
pub use crawl::{crawl, CrawlOptions, CrawlResult, FoundFile};
pub use error::{FailureReason, FileFailure, FileStat, IndexError};
pub use metadata::{
    exif_from_blob, exif_from_file, ExifSummary, GpsPosition, PhotoMetadata, TakenAt,
};
pub use pipeline::{apply_plan, Clock, ManualClock, PipelineConfig, SystemClock};
pub use prepare::PrepareSettings;
pub use progress::{Progress, ProgressSnapshot, Summary};
pub use sniff::{judge, sniff, ImageFormat, Verdict};
pub use thumbs::{make_thumbnails, Thumbnail, ThumbnailSpec, Thumbnails};
