//! Magpie's search logic, written against small traits ([`TextEmbedder`], [`ImageEmbedder`],
//! [`SearchIndex`]) so it can be tested with hand-built models and in-memory indexes, and wired
//! to `magpie-models` and `magpie-catalog` by thin adapters.
//!
//! The pipeline of one search ([`Searcher::search`]):
//! parse the query ([`query`]) → embed each term (text through [`prompts`] and the
//! [`cache`], images through the image tower, `--like` ids from the library) → [`combine`] into
//! one unit vector → the allowed ids from the [`Filters`] (one definition, in `magpie-catalog`) → vector ranking (HNSW, or an exact
//! scan when the allowed set is small) → adaptive [`cutoff`] → [`fusion`] with the keyword
//! ranking → [`sort`] and pagination.

pub mod backend;
pub mod cache;
pub mod combine;
pub mod cutoff;
pub mod dupes;
pub mod engine;
pub mod error;
pub mod fusion;
pub mod hnsw;
pub mod library;
pub mod prompts;
pub mod query;
pub mod request;
pub mod served;
pub mod sort;
pub mod tags;
pub mod text_encoder;
pub mod vector;

pub use backend::{BackendError, ImageEmbedder, SearchIndex, TextEmbedder};
pub use cache::{CacheKey, EmbeddingCache, EmbeddingStore, PromptKey};
pub use cutoff::{CutoffConfig, CutoffOutcome};
pub use dupes::{DupeGroup, DupeMember};
pub use engine::{Searcher, SearcherConfig};
pub use error::SearchError;
pub use fusion::SearchMode;
pub use library::{LibraryError, LibraryIndex, LibrarySearch};
pub use magpie_catalog::{FilterError, Filters, Orientation, FILTER_KEYS};
pub use prompts::PromptEnsemble;
pub use query::{QueryTerm, TermKind};
pub use request::{Hit, SearchRequest, SearchResponse, WeightedImage, WeightedLike, WeightedText};
pub use served::{is_unavailable, BackendUnavailable, Collection, SearchService, ServedModel};
pub use sort::SortOrder;
pub use tags::{ImageTags, TagRule, TagScoring};
