//! The searcher's error type: every way a search, tagging or duplicate pass can fail, each with a
//! message a user can act on (the CLI prints it and exits non-zero; the web API returns it).

use std::path::PathBuf;

use crate::backend::BackendError;
use crate::prompts::PromptError;
use crate::query::QueryError;
use crate::tags::TagError;
use magpie_catalog::FilterError;

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error(transparent)]
    Query(#[from] QueryError),
    #[error(transparent)]
    Filter(#[from] FilterError),
    #[error(transparent)]
    Prompt(#[from] PromptError),
    #[error(transparent)]
    Tag(#[from] TagError),
    #[error("cannot read query image {path}: {source}")]
    UnreadableImage {
        path: PathBuf,
        #[source]
        source: BackendError,
    },
    #[error("image queries need the image model, which is not loaded")]
    NoImageModel,
    #[error("--like {id}: no image with that id in the library")]
    UnknownImage { id: u64 },
    #[error(
        "the library was built with model {library:?} but the loaded model is {loaded:?}; \
         search with the library's model or re-index the library"
    )]
    ModelMismatch { library: String, loaded: String },
    #[error("the query embedding has {query} dimensions but the library has {library}")]
    DimensionMismatch { query: usize, library: usize },
    #[error("the weighted terms cancel out (their sum has no direction); change the weights")]
    DegenerateQuery,
    #[error(
        "the model embeds {0:?} as a zero vector (no direction to search in); try other words"
    )]
    ZeroEmbedding(String),
    #[error("keyword mode needs some positive text to match")]
    NoKeywordText,
    #[error("limit must be between 1 and {max}, got {got}")]
    InvalidLimit { got: usize, max: usize },
    #[error("offset must be between 0 and {max}, got {got}")]
    InvalidOffset { got: usize, max: usize },
    #[error("--min-score must be a finite number, got {0}")]
    InvalidMinScore(f32),
    #[error("the text model failed: {0}")]
    TextModel(#[source] BackendError),
    #[error("the text model returned {got} embeddings for {expected} inputs")]
    TextModelShape { expected: usize, got: usize },
    #[error("the library index failed: {0}")]
    Index(#[source] BackendError),
}

pub type Result<T, E = SearchError> = std::result::Result<T, E>;
