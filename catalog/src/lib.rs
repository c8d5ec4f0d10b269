//! `magpie-catalog`: a photo library on disk.
//!
//! Three stores, one truth:
//! - **sled** ([`Writer`] only) holds every image record, its f16 embedding, path and content-hash
//!   lookups, indexing failures, caches and the *generation* counter bumped by every commit;
//! - **tantivy** (keywords, folders, camera, dates, tags; the full record as a stored field) and
//!   **usearch** (HNSW over the embeddings) are derived from sled and each records the generation
//!   it reflects.
//!
//! One writer at a time holds `writer.lock`; readers ([`Reader`]) need no lock, never touch sled,
//! and only switch to a generation that both derived stores reflect. See `writer` for the commit
//! order that makes a crash at any point safe.
//!
//! Layout of a library directory:
//! ```text
//! FORMAT                    format version (see magpie-migrations)
//! writer.lock               held by the writer; says who holds it
//! model.json                the model identity (for readers)
//! db/                       sled
//! text/                     tantivy
//! vectors.json              names the current vectors-<generation>.usearch
//! vectors-<gen>.usearch     HNSW index
//! failures.json             files that could not be indexed (for readers)
//! thumbs/ab/<hash>-grid.jpg thumbnails by content hash (-grid, -preview)
//! ```

pub mod companion;
pub mod dates;
mod error;
mod filters;
mod fsutil;
pub mod keywords;
mod reader;
mod record;
mod settings;
mod text;
mod tuning;
mod vectors;
pub mod words;
mod writer;

use std::path::{Path, PathBuf};

pub use error::{CatalogError, Result};
pub use filters::{
    camera_words, extension_key, parse_date, path_components, tag_key, FilterError, Filters,
    FILTER_KEYS,
};
pub use keywords::KeywordIndex;
pub use reader::{cosine, Reader, Snapshot};
pub use record::{
    bytes_to_path, path_to_bytes, ExifFields, Failure, ImageId, ImageRecord, ImageText,
    ModelIdentity, Orientation, TextLine,
};
pub use settings::LibrarySettings;
pub use tuning::{
    Family, FamilyRecall, SearchTuning, DEFAULT_MAX_BREADTH, TARGET_RECALL, TUNE_MIN_VECTORS,
};
pub use vectors::{Quantization, CONNECTIVITY, EXPANSION_ADD, EXPANSION_SEARCH};
pub use writer::{Change, KnownFileRow, Stats, VerifyReport, Writer, WriterOptions};

/// Which thumbnail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThumbKind {
    /// Small, for result grids (shortest side 256 px).
    Grid,
    /// Large, for the lightbox (longest side 1280 px).
    Preview,
}

impl ThumbKind {
    fn suffix(self) -> &'static str {
        match self {
            Self::Grid => "grid",
            Self::Preview => "preview",
        }
    }
}

/// Paths inside a library directory.
#[derive(Debug, Clone)]
pub struct LibraryLayout {
    pub root: PathBuf,
}

impl LibraryLayout {
    pub fn new(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
        }
    }

    /// The library to use: explicit, else `MAGPIE_LIBRARY`, else `$XDG_DATA_HOME/magpie/library`.
    pub fn resolve(explicit: Option<&Path>, config: Option<&Path>) -> Option<PathBuf> {
        explicit
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os("MAGPIE_LIBRARY").map(PathBuf::from))
            .or_else(|| config.map(Path::to_path_buf))
            .or_else(|| {
                std::env::var_os("XDG_DATA_HOME").map(|d| PathBuf::from(d).join("magpie/library"))
            })
            .or_else(|| {
                std::env::var_os("HOME")
                    .map(|h| PathBuf::from(h).join(".local/share/magpie/library"))
            })
    }

    pub fn db_dir(&self) -> PathBuf {
        self.root.join(magpie_migrations::DB_DIR)
    }
    pub fn text_dir(&self) -> PathBuf {
        self.root.join(magpie_migrations::TEXT_DIR)
    }
    /// The library's own settings ([`LibrarySettings`]).
    pub fn settings_file(&self) -> PathBuf {
        self.root.join("settings.json")
    }
    pub fn lock_file(&self) -> PathBuf {
        self.root.join("writer.lock")
    }
    pub fn model_file(&self) -> PathBuf {
        self.root.join("model.json")
    }
    pub fn failures_file(&self) -> PathBuf {
        self.root.join("failures.json")
    }
    pub fn thumbs_dir(&self) -> PathBuf {
        self.root.join("thumbs")
    }
    pub fn thumbnail(&self, content_hash: &str, kind: ThumbKind) -> PathBuf {
        let shard = content_hash.get(..2).unwrap_or("00");
        self.thumbs_dir()
            .join(shard)
            .join(format!("{content_hash}-{}.jpg", kind.suffix()))
    }
}

fn stats_for(
    layout: &LibraryLayout,
    model: Option<ModelIdentity>,
    generation: u64,
    images: u64,
    vectors: usize,
    failures: usize,
    (text_read, text_found): (u64, u64),
) -> Stats {
    // The sidecar the last save wrote describes the vectors readers search.
    let sidecar = vectors::read_sidecar(&layout.root).ok().flatten();
    let quantization = sidecar.as_ref().map(|s| s.quantization).unwrap_or_default();
    let search_tuning = sidecar.and_then(|s| s.tuning);
    let bytes_database = fsutil::dir_size(&layout.db_dir());
    let bytes_keywords = fsutil::dir_size(&layout.text_dir());
    let bytes_thumbnails = fsutil::dir_size(&layout.thumbs_dir());
    let bytes_vectors = std::fs::read_dir(&layout.root)
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().ends_with(".usearch"))
                .map(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
                .sum()
        })
        .unwrap_or(0);
    Stats {
        path: layout.root.clone(),
        format_version: magpie_migrations::read_version(&layout.root)
            .ok()
            .flatten()
            .unwrap_or(0),
        generation,
        model,
        images,
        vectors,
        failures,
        quantization,
        expansion_search: vectors::expansion_for(search_tuning.as_ref()),
        search_tuning,
        bytes_database,
        bytes_vectors,
        bytes_keywords,
        bytes_thumbnails,
        text_read,
        text_found,
        bytes_total: bytes_database + bytes_vectors + bytes_keywords + bytes_thumbnails,
    }
}
