//! Errors: per-file failures (recorded, the run goes on) and fatal indexing errors (the run stops).
//!
//! The split is the point of this module. A bad photo must never stop a run, so everything that can
//! go wrong with one file is a [`FileFailure`] that names the file and the reason and travels to the
//! catalog like any other result. Only problems that make further work pointless — the catalog
//! refusing a commit, the model failing on every input, a malformed glob — are [`IndexError`]s.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

/// Size and modification time of a file as the crawl saw it; lets the catalog remember a failed
/// file so that an unchanged bad file is not retried on every run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FileStat {
    pub size: u64,
    pub mtime_ns: i64,
}

/// One file that could not be indexed, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {reason}", path.display())]
pub struct FileFailure {
    pub path: PathBuf,
    pub reason: FailureReason,
    /// Known when the crawl saw the file; absent for walk errors.
    pub stat: Option<FileStat>,
}

impl FileFailure {
    pub fn new(path: impl Into<PathBuf>, reason: FailureReason) -> Self {
        Self {
            path: path.into(),
            reason,
            stat: None,
        }
    }

    pub fn with_stat(mut self, stat: FileStat) -> Self {
        self.stat = Some(stat);
        self
    }

    /// Classifies an I/O error on `path`: a vanished file and a permission problem are common and
    /// deserve their own words, everything else keeps the OS's message.
    pub fn from_io(path: &Path, error: &io::Error) -> Self {
        Self::new(path, FailureReason::from_io(error))
    }
}

/// Why a file could not be indexed. The `Display` text is what users read in reports.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FailureReason {
    #[error("permission denied")]
    PermissionDenied,
    #[error("file vanished while indexing")]
    Vanished,
    #[error("cannot read: {0}")]
    Read(String),
    #[error("symbolic link loop (points back to {})", ancestor.display())]
    SymlinkLoop { ancestor: PathBuf },
    #[error("file is {bytes} bytes, larger than the {limit}-byte limit")]
    TooLarge { bytes: u64, limit: u64 },
    #[error(
        "{width}×{height} image exceeds the {max_pixels}-pixel limit (decompression-bomb guard)"
    )]
    TooManyPixels {
        width: u32,
        height: u32,
        max_pixels: u64,
    },
    #[error("not an image (content does not match any supported format)")]
    NotAnImage,
    #[error("unsupported: {0}")]
    Unsupported(String),
    #[error("cannot decode: {0}")]
    Decode(String),
    #[error("cannot prepare the model input: {0}")]
    Preprocess(String),
    #[error("cannot make thumbnails: {0}")]
    Thumbnail(String),
    #[error("took longer than the per-file limit of {limit:?}; abandoned")]
    Timeout { limit: Duration },
    #[error("not attempted: every decode worker is stuck on an earlier pathological file")]
    WorkersStuck,
    #[error("decoder crashed: {0}")]
    Panicked(String),
    #[error("the model failed on this image: {0}")]
    Embed(String),
    /// Not a failure to index: the file is damaged, was decoded as far as it goes and *is*
    /// indexed; recorded so `magpie library errors` shows what was lost.
    #[error("partly decoded (indexed anyway): {0}")]
    PartlyDecoded(String),
}

impl FailureReason {
    pub fn from_io(error: &io::Error) -> Self {
        match error.kind() {
            io::ErrorKind::NotFound => Self::Vanished,
            io::ErrorKind::PermissionDenied => Self::PermissionDenied,
            _ => Self::Read(error.to_string()),
        }
    }

    /// A short stable name for machine-readable reports (`--json`).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::PermissionDenied => "permission-denied",
            Self::Vanished => "vanished",
            Self::Read(_) => "read",
            Self::SymlinkLoop { .. } => "symlink-loop",
            Self::TooLarge { .. } => "too-large",
            Self::TooManyPixels { .. } => "too-many-pixels",
            Self::NotAnImage => "not-an-image",
            Self::Unsupported(_) => "unsupported",
            Self::Decode(_) => "decode",
            Self::Preprocess(_) => "preprocess",
            Self::Thumbnail(_) => "thumbnail",
            Self::Timeout { .. } => "timeout",
            Self::WorkersStuck => "workers-stuck",
            Self::Panicked(_) => "panicked",
            Self::Embed(_) => "embed",
            Self::PartlyDecoded(_) => "partly-decoded",
        }
    }
}

impl Serialize for FileFailure {
    // Paths are not always UTF-8; a report must still be printable, so the path is written lossily
    // here (the `PathBuf` itself stays exact for the catalog).
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut record = serializer.serialize_struct("FileFailure", 3)?;
        record.serialize_field("path", &self.path.to_string_lossy())?;
        record.serialize_field("kind", self.reason.kind())?;
        record.serialize_field("reason", &self.reason.to_string())?;
        record.end()
    }
}

/// An error that stops the run (after committing what was already done).
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("invalid {which} glob `{pattern}`: {source}")]
    Glob {
        which: &'static str,
        pattern: String,
        #[source]
        source: globset::Error,
    },
    #[error("cannot commit to the library: {source}")]
    Commit {
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("the model failed on every image of a batch (first: {}): {reason}", first.display())]
    Embed { first: PathBuf, reason: String },
    #[error("cannot start indexing thread `{name}`: {source}")]
    Thread {
        name: String,
        #[source]
        source: io::Error,
    },
    #[error("pipeline stage `{stage}` crashed: {message}")]
    StagePanicked {
        stage: &'static str,
        message: String,
    },
}

/// Text of a panic payload (what `panic!` was given), for reports.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_string()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "panic with a non-text payload".to_string()
    }
}
