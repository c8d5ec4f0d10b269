//! What a server serves, wherever the images live: [`SearchService`] (the searcher, a fresh
//! [`Collection`] per request, the model, the failures) over a local library
//! ([`LibrarySearch`]) or a remote backend (`magpie-milvus`), so `magpie-web` is written once.
//!
//! A [`Collection`] is a [`SearchIndex`] plus what pages show besides ranking: each image's
//! record, every record (for facets), the thumbnail files and a generation that changes when the
//! images do (caches key on it). [`BackendUnavailable`] is how a backend says it is down (a
//! server answers 503 and tries again on the next request) rather than broken.

use std::path::PathBuf;
use std::sync::Arc;

use magpie_catalog::{ImageRecord, ThumbKind};

use crate::backend::{BackendError, SearchIndex};
use crate::engine::Searcher;
use crate::library::{LibraryIndex, LibrarySearch};

/// One consistent view of the images, for one request.
pub trait Collection: Send + Sync {
    /// What the searcher ranks.
    fn index(&self) -> &dyn SearchIndex;
    /// Changes whenever the images do.
    fn generation(&self) -> u64;
    fn for_each_record(&self, f: &mut dyn FnMut(&ImageRecord));
    /// The thumbnail file of `record`, when there is one.
    fn thumbnail_path(&self, record: &ImageRecord, kind: ThumbKind) -> Option<PathBuf>;
}

/// The model a service's images were embedded with, as a status page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedModel {
    pub name: String,
    pub dim: usize,
}

/// What `magpie serve` serves.
pub trait SearchService: Send + Sync + 'static {
    fn searcher(&self) -> &Searcher;
    /// A fresh view of the images.
    fn collection(&self) -> Arc<dyn Collection>;
    fn model(&self) -> ServedModel;
    /// Files that could not be indexed.
    fn failures(&self) -> u64;
    /// The library folder, where `magpie index` reports its progress; `None` for a backend no
    /// local indexer writes to.
    fn library_dir(&self) -> Option<PathBuf>;
}

/// A backend that cannot be reached right now (down, restarting, the network): not a bug, and
/// the same request may work a moment later.
#[derive(Debug, thiserror::Error)]
#[error("{backend} is unreachable: {reason}")]
pub struct BackendUnavailable {
    /// What and where, e.g. "Milvus at http://127.0.0.1:19530".
    pub backend: String,
    pub reason: String,
}

/// Whether `error` is (or wraps) a [`BackendUnavailable`].
pub fn is_unavailable(error: &BackendError) -> bool {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error.as_ref());
    while let Some(e) = current {
        if e.is::<BackendUnavailable>() {
            return true;
        }
        current = e.source();
    }
    false
}

/// A library snapshot and the reader it came from (for thumbnails).
struct LibraryCollection {
    index: LibraryIndex,
    library: Arc<LibrarySearch>,
}

/// A local library as a service. `Arc` because every request's collection keeps the reader.
impl SearchService for Arc<LibrarySearch> {
    fn searcher(&self) -> &Searcher {
        LibrarySearch::searcher(self)
    }

    fn collection(&self) -> Arc<dyn Collection> {
        Arc::new(LibraryCollection {
            index: self.index(),
            library: self.clone(),
        })
    }

    fn model(&self) -> ServedModel {
        let model = self.reader().model();
        ServedModel {
            name: model.name.clone(),
            dim: model.dim,
        }
    }

    fn failures(&self) -> u64 {
        self.reader().failures().len() as u64
    }

    fn library_dir(&self) -> Option<PathBuf> {
        Some(self.reader().layout().root.clone())
    }
}

impl Collection for LibraryCollection {
    fn index(&self) -> &dyn SearchIndex {
        &self.index
    }

    fn generation(&self) -> u64 {
        self.index.snapshot().generation
    }

    fn for_each_record(&self, f: &mut dyn FnMut(&ImageRecord)) {
        self.index.snapshot().for_each_record(|record| f(&record));
    }

    fn thumbnail_path(&self, record: &ImageRecord, kind: ThumbKind) -> Option<PathBuf> {
        self.library.reader().thumbnail_path(record, kind)
    }
}
