//! The traits the searcher runs against: the two CLIP towers and the library index.
//!
//! They are deliberately small so `magpie-models` and `magpie-catalog` can implement them with
//! thin adapters, and tests can implement them with hand-built models and in-memory indexes.

use std::collections::HashSet;
use std::path::Path;

use magpie_catalog::words::TextQuery;
use magpie_catalog::{Filters, ImageRecord};

/// Errors from a backend (model or index), boxed because each backend has its own error type.
pub type BackendError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The CLIP text tower.
pub trait TextEmbedder: Send + Sync {
    /// One embedding per input, in order. Need not be normalised.
    fn embed_texts(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, BackendError>;
    /// Identifies the model (e.g. its checksum): cached embeddings and libraries are tied to it.
    fn model_key(&self) -> String;
    /// The language code queries in `language` (a request's, or `None`) are embedded in, for
    /// models whose queries carry one (NLLB: a FLORES-200 code, the model's default when the
    /// request names none or one it does not know); `None` for models that take no language.
    fn resolve_language(&self, language: Option<&str>) -> Option<String> {
        let _ = language;
        None
    }
    /// Embeds texts in a language [`Self::resolve_language`] returned.
    fn embed_texts_in(
        &self,
        texts: &[&str],
        language: Option<&str>,
    ) -> Result<Vec<Vec<f32>>, BackendError> {
        let _ = language;
        self.embed_texts(texts)
    }
}

/// The CLIP image tower.
pub trait ImageEmbedder: Send + Sync {
    /// The embedding of the image in `path`. Need not be normalised.
    fn embed_image_file(&self, path: &Path) -> Result<Vec<f32>, BackendError>;
}

/// The library: vectors (HNSW), keywords and metadata.
pub trait SearchIndex: Send + Sync {
    /// The model key the library's embeddings were made with.
    fn model_key(&self) -> String;
    /// The embedding dimension.
    fn dimensions(&self) -> usize;
    /// Number of images.
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Approximate nearest neighbours by cosine similarity, best first, at most `k`,
    /// restricted to `allowed` when given (usearch's filtered search).
    fn vector_search(
        &self,
        query: &[f32],
        k: usize,
        allowed: Option<&HashSet<u64>>,
    ) -> Result<Vec<(u64, f32)>, BackendError>;
    /// [`Self::vector_search`] among the images matching `filters`, whose ids the engine has
    /// from [`Self::allowed_ids`] (`allowed`). A backend that filters inside its own search (a
    /// Milvus expression) overrides this and need not look at `allowed`.
    fn vector_search_filtered(
        &self,
        query: &[f32],
        k: usize,
        filters: &Filters,
        allowed: Option<&HashSet<u64>>,
    ) -> Result<Vec<(u64, f32)>, BackendError> {
        let _ = filters;
        self.vector_search(query, k, allowed)
    }
    /// Keyword (BM25) matches of `text` over file name, path, EXIF and tags, best first,
    /// restricted by `filters`. Takes the filters rather than the allowed ids because the keyword
    /// index applies them inside the same query.
    fn keyword_search(
        &self,
        text: &str,
        limit: usize,
        filters: &Filters,
    ) -> Result<Vec<(u64, f32)>, BackendError>;
    /// Matches of `query` in the text read in the images (OCR), best first, restricted by
    /// `filters`; each flagged when the image holds every word and phrase of the query.
    fn image_text_search(
        &self,
        query: &TextQuery,
        limit: usize,
        filters: &Filters,
    ) -> Result<Vec<(u64, f32, bool)>, BackendError>;
    /// The ids matching `filters`; `None` when the filters are empty (everything is allowed).
    fn allowed_ids(&self, filters: &Filters) -> Result<Option<HashSet<u64>>, BackendError>;
    /// The stored embedding of an image.
    fn embedding(&self, id: u64) -> Result<Option<Vec<f32>>, BackendError>;
    /// The stored embeddings of `ids`, in order. A remote backend fetches them in one request
    /// (an exact scan of a filtered set asks for all of them at once).
    fn embeddings(&self, ids: &[u64]) -> Result<Vec<Option<Vec<f32>>>, BackendError> {
        ids.iter().map(|&id| self.embedding(id)).collect()
    }
    /// The record of an image (path, size, EXIF…); the per-image getters below derive from it.
    fn record(&self, id: u64) -> Option<ImageRecord>;
    /// Taken-at, falling back to the file's mtime; Unix seconds.
    fn sort_key_date(&self, id: u64) -> Option<i64> {
        self.record(id).map(|r| r.date())
    }
    /// The file name (with extension), for recognising a query that names a file.
    fn file_name(&self, id: u64) -> Option<String> {
        self.record(id).map(|r| r.file_name())
    }
    /// The file's path: how equal scores are ordered ([`crate::sort::TieOrder`]), the same way
    /// on every backend. `None` leaves such ties in id order.
    fn path(&self, id: u64) -> Option<std::path::PathBuf> {
        self.record(id).map(|r| r.path)
    }
    /// Width × height, for ordering near-duplicates.
    fn pixel_count(&self, id: u64) -> Option<u64> {
        self.record(id).map(|r| r.pixel_count())
    }
    /// Every image id, for tagging and near-duplicate passes.
    fn all_ids(&self) -> Result<Vec<u64>, BackendError>;
}
