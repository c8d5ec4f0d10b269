//! Typed errors of the catalog. Every variant names the file or directory involved, because the
//! person reading the message is usually deciding which file to restore or delete.

use std::path::PathBuf;

pub type Result<T, E = CatalogError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("library database {path}: {source}")]
    Sled { path: PathBuf, source: sled::Error },
    #[error("keyword index {path}: {reason}")]
    Text { path: PathBuf, reason: String },
    #[error("vector index {path}: {reason}")]
    Vectors { path: PathBuf, reason: String },
    #[error("library {path} is being written by another process ({holder}); wait for it to finish or stop it")]
    Locked { path: PathBuf, holder: String },
    #[error(
        "library {path} was built with model {library_model} (dim {library_dim}), not {requested_model} (dim {requested_dim}); \
         use the same model, or re-embed the library explicitly with `magpie library reembed`"
    )]
    ModelMismatch {
        path: PathBuf,
        library_model: String,
        library_dim: usize,
        requested_model: String,
        requested_dim: usize,
    },
    #[error("library {path} does not exist or has never been written (run `magpie index` first)")]
    NotALibrary { path: PathBuf },
    #[error(
        "library {path} is in format version {found}, and this Magpie reads version {current}: \
         only the writer upgrades a library (it takes the writer lock), so run `magpie library verify` \
         once, when no `magpie index` is running, and try again"
    )]
    NeedsUpgrade {
        path: PathBuf,
        found: u32,
        current: u32,
    },
    #[error("library {path} is damaged: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error("embedding for {what} has {got} dimensions, the library holds {want}")]
    Dimension {
        what: String,
        got: usize,
        want: usize,
    },
    #[error(transparent)]
    Migration(#[from] magpie_migrations::MigrationError),
}

impl CatalogError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }
    pub(crate) fn sled(path: impl Into<PathBuf>) -> impl FnOnce(sled::Error) -> Self {
        let path = path.into();
        move |source| Self::Sled { path, source }
    }
    pub(crate) fn text(path: impl Into<PathBuf>) -> impl FnOnce(tantivy::TantivyError) -> Self {
        let path = path.into();
        move |e| Self::Text {
            path,
            reason: e.to_string(),
        }
    }
}
