//! The crate's one error type.
//!
//! Every variant names the file (or URL, or input) it is about and says what is wrong with it, so
//! that a user reading `magpie: error: …` knows where to look without re-running with logs on.

use std::path::PathBuf;

/// What went wrong in `magpie-models`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No rule of the ONNX Runtime search order found a usable library: every place tried, and
    /// why each was passed over.
    #[error(
        "ONNX Runtime library not found; tried, in order:{}\nrun scripts/setup, or \
         `pip install onnxruntime==1.31.1` (in a virtualenv too), then point Magpie at it once: \
         `ort_lib = \"/path/to/venv\"` in the config file, MAGPIE_ORT_LIB, or --ort-lib \
         (a libonnxruntime.so, its folder, or a virtualenv with onnxruntime installed)",
        tried.iter().map(|t| format!("\n  - {t}")).collect::<String>()
    )]
    RuntimeNotFound { tried: Vec<String> },

    /// A path given for ONNX Runtime does not hold a usable library.
    #[error(
        "{}: {reason} (found via {source_rule}); point --ort-lib / MAGPIE_ORT_LIB / the \
         config's ort_lib at libonnxruntime.so, the folder holding it or a virtualenv with \
         onnxruntime installed, or run scripts/setup",
        path.display()
    )]
    RuntimeLibrary {
        path: PathBuf,
        source_rule: String,
        reason: String,
    },

    /// The library loaded but is older than the ONNX Runtime API Magpie is built against.
    #[error(
        "{}: ONNX Runtime {found} is too old, Magpie needs 1.{needed_minor} or newer; \
         run scripts/setup or `pip install onnxruntime==1.31.1`",
        path.display()
    )]
    RuntimeTooOld {
        path: PathBuf,
        found: String,
        needed_minor: u32,
    },

    /// ONNX Runtime loaded but its environment could not be created.
    #[error("{}: cannot start ONNX Runtime: {reason}", path.display())]
    RuntimeStart { path: PathBuf, reason: String },

    /// A device string that is not `auto`, `cpu`, `cuda[:N]` or `tensorrt[:N]`.
    #[error("unknown device `{0}`: expected auto, cpu, cuda[:N] or tensorrt[:N]")]
    InvalidDevice(String),

    /// An execution provider that was asked for explicitly could not be registered.
    #[error("{}: cannot use {provider}: {reason}", model.display())]
    ExecutionProvider {
        model: PathBuf,
        provider: String,
        reason: String,
    },

    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },

    /// A model directory or one of its configuration files is not what Magpie expects.
    #[error("{}: {reason}", path.display())]
    ModelDir { path: PathBuf, reason: String },

    /// ONNX Runtime refused a model file (not ONNX, unsupported operator, …).
    #[error("{}: ONNX Runtime cannot load this model: {reason}", path.display())]
    OnnxLoad { path: PathBuf, reason: String },

    /// Running a model failed, or its output was not shaped as declared.
    #[error("{}: inference failed: {reason}", path.display())]
    Inference { path: PathBuf, reason: String },

    /// The tokenizer file is unusable, or a text could not be tokenized.
    #[error("{}: tokenizer: {reason}", path.display())]
    Tokenizer { path: PathBuf, reason: String },

    /// An image could not be decoded (corrupt, unsupported, truncated, …).
    #[error("{input}: cannot decode image: {reason}")]
    ImageDecode { input: String, reason: String },

    /// A recognised format this build or machine cannot decode; `how` says how to enable it.
    #[error("{input}: unsupported: {format} ({how})")]
    ImageUnsupported {
        input: String,
        format: &'static str,
        how: &'static str,
    },

    /// An image header declares more pixels than allowed (decompression-bomb guard).
    #[error(
        "{input}: image is {width}×{height} = {pixels} pixels, more than the limit of {max_pixels}"
    )]
    ImageTooLarge {
        input: String,
        width: u32,
        height: u32,
        pixels: u64,
        max_pixels: u64,
    },

    /// A pre-processed image tensor has the wrong length for the model.
    #[error("{}: image tensor {index} has {got} values, the model needs {expected} (3×{size}×{size})", model.display())]
    ImageTensorSize {
        model: PathBuf,
        index: usize,
        got: usize,
        expected: usize,
        size: u32,
    },

    /// Talking to the model hub failed.
    #[error("{url}: {reason}")]
    Hub { url: String, reason: String },

    /// A downloaded file does not match the checksum the hub announced.
    #[error("{}: {algorithm} checksum mismatch: expected {expected}, got {actual} (file removed; pull again)", path.display())]
    Checksum {
        path: PathBuf,
        algorithm: &'static str,
        expected: String,
        actual: String,
    },

    /// The model store has no such model and the value is not a directory either.
    #[error("model `{name}` is neither a directory nor a model in the store {}; `magpie models list` shows installed models", store.display())]
    ModelNotFound { name: String, store: PathBuf },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn model_dir(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::ModelDir {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

/// Shorthand used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
