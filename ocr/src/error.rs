//! The crate's one error type. Every variant names the file it is about and says what is wrong.

use std::path::PathBuf;

/// What went wrong in `magpie-ocr`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// ONNX Runtime, a session, decoding or the model store (from `magpie-models`).
    #[error(transparent)]
    Models(#[from] magpie_models::Error),

    /// An OCR model folder, its manifest or one of its files is not usable.
    #[error("{}: {reason}", path.display())]
    Model { path: PathBuf, reason: String },

    /// No OCR model is installed where one was looked for.
    #[error(
        "no OCR model in the model store {} (get one: `magpie models pull {repo}`, or \
         `magpie models import-ocr --from-rapidocr` when the Python package rapidocr_onnxruntime \
         is installed, or `magpie models import-ocr --from FOLDER`)",
        store.display()
    )]
    NoModel { store: PathBuf, repo: &'static str },

    /// A model file's bytes are not the ones the catalogue names.
    #[error("{}: sha256 is {actual}, expected {expected} ({what})", path.display())]
    Checksum {
        path: PathBuf,
        expected: String,
        actual: String,
        what: String,
    },

    /// Running a network failed or its output was not shaped as expected.
    #[error("{}: inference failed: {reason}", path.display())]
    Inference { path: PathBuf, reason: String },

    /// A file could not be read, written or copied.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn model(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::Model {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

/// Shorthand used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
