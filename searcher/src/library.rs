//! The searcher on the real stack: `magpie-models` embeds queries, `magpie-catalog` answers them.
//!
//! [`LibrarySearch`] is what `magpie search` and `magpie serve` hold: a catalog [`Reader`] (no
//! lock, so it works while `magpie index` writes the same library) and a [`Searcher`] whose towers
//! are the library's model. Each query takes a fresh [`LibraryIndex`] — a consistent snapshot of
//! the newest committed generation — so newly indexed photos show up without a restart.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use magpie_catalog::{ImageRecord, ModelIdentity, Reader, Snapshot};
use magpie_models::{ImageEncoder, ModelSpec, SessionConfig, TextEncoder};

use crate::backend::{BackendError, ImageEmbedder, SearchIndex, TextEmbedder};
use crate::cache::{decode_vector, encode_vector, CacheKey, EmbeddingCache, EmbeddingStore};
use crate::dupes::DupeGroup;
use crate::engine::{find_duplicates, Searcher, SearcherConfig};
use crate::error::SearchError;
use crate::request::{SearchRequest, SearchResponse};
use crate::tags::{ImageTags, TagRule, TagScoring};
use magpie_catalog::Filters;

/// Neighbours looked at per image when grouping near-duplicates.
pub const DUPE_NEIGHBOURS: usize = 16;

/// Why a library could not be opened for searching.
#[derive(Debug, thiserror::Error)]
pub enum LibraryError {
    #[error(transparent)]
    Catalog(#[from] magpie_catalog::CatalogError),
    #[error(transparent)]
    Model(#[from] magpie_models::Error),
    #[error(transparent)]
    ModelMismatch(Box<ModelMismatch>),
}

/// A library searched with a model other than the one that built it.
#[derive(Debug, thiserror::Error)]
#[error(
    "the library {library} was built with model {built:?} ({built_dim} dimensions, checksum {built_sum}) \
     but {loaded:?} ({loaded_dim} dimensions, checksum {loaded_sum}) was given; search it with its own \
     model, or re-embed it with `magpie library reembed --model ...`"
)]
pub struct ModelMismatch {
    pub library: PathBuf,
    pub built: String,
    pub built_dim: usize,
    pub built_sum: String,
    pub loaded: String,
    pub loaded_dim: usize,
    pub loaded_sum: String,
}

/// The key that ties embeddings, caches and libraries to one model: its weights' checksum.
pub fn model_key(checksum: &str) -> String {
    format!("blake3:{checksum}")
}

/// A library opened for searching.
pub struct LibrarySearch {
    reader: Reader,
    searcher: Searcher,
}

impl LibrarySearch {
    /// Opens the library at `library_dir` and the model `spec`, checking that the library was
    /// built with that model. Text embeddings are cached in memory and in the library's
    /// `cache/text/` folder (readers may not write sled, which belongs to the writer). The image
    /// tower (hundreds of MB for ViT-B/32) is loaded on the first image query, not before.
    pub fn open(
        library_dir: &Path,
        spec: &ModelSpec,
        session: &SessionConfig,
        config: SearcherConfig,
    ) -> Result<Self, LibraryError> {
        let reader = Reader::open(library_dir)?;
        let (searcher, checksum, dim) = open_searcher(
            spec,
            session,
            config,
            &library_dir.join("cache").join("text"),
        )?;
        check_same_model(library_dir, reader.model(), &spec.name, dim, &checksum)?;
        Ok(Self { reader, searcher })
    }

    /// A library searched with any towers (tests, custom embedders).
    pub fn with_searcher(reader: Reader, searcher: Searcher) -> Self {
        Self { reader, searcher }
    }

    pub fn reader(&self) -> &Reader {
        &self.reader
    }

    pub fn searcher(&self) -> &Searcher {
        &self.searcher
    }

    /// The newest committed generation as a [`SearchIndex`]. A failed refresh (a writer mid-commit)
    /// keeps the previous snapshot, which is still consistent.
    pub fn index(&self) -> LibraryIndex {
        if let Err(e) = self.reader.refresh() {
            tracing::debug!("library refresh failed, searching the previous snapshot: {e}");
        }
        LibraryIndex::new(self.reader.snapshot(), self.reader.model())
    }

    pub fn search(&self, request: &SearchRequest) -> Result<SearchResponse, SearchError> {
        self.searcher.search(&self.index(), request)
    }

    /// Near-duplicate groups, largest first.
    pub fn duplicates(&self, threshold: f32) -> Result<Vec<DupeGroup>, SearchError> {
        find_duplicates(&self.index(), threshold, DUPE_NEIGHBOURS)
    }

    /// Zero-shot tags for every image (to be stored by the writer).
    pub fn tags(&self, labels: &[String], rule: &TagRule) -> Result<Vec<ImageTags>, SearchError> {
        self.searcher.tag_images(&self.index(), labels, rule)
    }
}

/// The searcher for the model `spec`, wherever the images live (a library, or a remote backend
/// fed from shards): the text tower, the image tower loaded on the first image query, text
/// embeddings cached in memory and in `text_cache_dir`, the family's tag scoring. Also returns
/// the model's weights checksum and embedding dimension, which the caller holds its images to.
pub fn open_searcher(
    spec: &ModelSpec,
    session: &SessionConfig,
    config: SearcherConfig,
    text_cache_dir: &Path,
) -> Result<(Searcher, String, usize), LibraryError> {
    let text = TextEncoder::open(spec, session)?;
    let mut config = config;
    config.tag_scoring = tag_scoring(spec.similarity);
    let checksum = magpie_models::identity::weights_checksum(spec)?;
    let dim = text.dim();
    let key = model_key(&checksum);
    let store = FileEmbeddingStore::new(text_cache_dir.to_path_buf());
    let cache = Arc::new(EmbeddingCache::new(
        crate::cache::DEFAULT_MEMORY_ENTRIES,
        Some(Arc::new(store)),
    ));
    let searcher = Searcher::new(
        Arc::new(ModelTextEmbedder { encoder: text, key }),
        Some(Arc::new(ModelImageEmbedder::lazy(spec, session))),
        cache,
        config,
    );
    Ok((searcher, checksum, dim))
}

/// The family's zero-shot scoring in the searcher's terms.
pub fn tag_scoring(similarity: magpie_models::Similarity) -> TagScoring {
    match similarity {
        magpie_models::Similarity::Softmax { logit_scale } => TagScoring::Softmax { logit_scale },
        magpie_models::Similarity::Sigmoid {
            logit_scale,
            logit_bias,
        } => TagScoring::Sigmoid {
            logit_scale,
            logit_bias,
        },
    }
}

fn check_same_model(
    library: &Path,
    built: &ModelIdentity,
    loaded_name: &str,
    loaded_dim: usize,
    loaded_checksum: &str,
) -> Result<(), LibraryError> {
    if built.checksum == loaded_checksum && built.dim == loaded_dim {
        return Ok(());
    }
    Err(LibraryError::ModelMismatch(Box::new(ModelMismatch {
        library: library.to_path_buf(),
        built: built.name.clone(),
        built_dim: built.dim,
        built_sum: short(&built.checksum),
        loaded: loaded_name.to_string(),
        loaded_dim,
        loaded_sum: short(loaded_checksum),
    })))
}

fn short(checksum: &str) -> String {
    checksum.chars().take(12).collect()
}

/// One consistent snapshot of a library, as the searcher sees it.
#[derive(Clone)]
pub struct LibraryIndex {
    snapshot: Arc<Snapshot>,
    model_key: String,
    dim: usize,
}

impl LibraryIndex {
    pub fn new(snapshot: Arc<Snapshot>, model: &ModelIdentity) -> Self {
        Self {
            snapshot,
            model_key: model_key(&model.checksum),
            dim: model.dim,
        }
    }

    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }
}

fn boxed(message: String) -> BackendError {
    message.into()
}

impl SearchIndex for LibraryIndex {
    fn model_key(&self) -> String {
        self.model_key.clone()
    }

    fn dimensions(&self) -> usize {
        self.dim
    }

    fn len(&self) -> usize {
        self.snapshot.len() as usize
    }

    fn vector_search(
        &self,
        query: &[f32],
        k: usize,
        allowed: Option<&HashSet<u64>>,
    ) -> Result<Vec<(u64, f32)>, BackendError> {
        Ok(self.snapshot.vector_search(query, k, allowed)?)
    }

    fn keyword_search(
        &self,
        text: &str,
        limit: usize,
        filters: &Filters,
    ) -> Result<Vec<(u64, f32)>, BackendError> {
        self.snapshot
            .keyword_search(text, filters, limit)
            .map_err(boxed)
    }

    fn image_text_search(
        &self,
        query: &magpie_catalog::words::TextQuery,
        limit: usize,
        filters: &Filters,
    ) -> Result<Vec<(u64, f32, bool)>, BackendError> {
        self.snapshot
            .image_text_search(query, filters, limit)
            .map_err(boxed)
    }

    fn allowed_ids(&self, filters: &Filters) -> Result<Option<HashSet<u64>>, BackendError> {
        if filters.is_empty() {
            return Ok(None);
        }
        self.snapshot.filter_ids(filters).map(Some).map_err(boxed)
    }

    fn embedding(&self, id: u64) -> Result<Option<Vec<f32>>, BackendError> {
        Ok(self.snapshot.embedding(id))
    }

    fn record(&self, id: u64) -> Option<ImageRecord> {
        self.snapshot.get(id)
    }

    fn all_ids(&self) -> Result<Vec<u64>, BackendError> {
        let mut ids: Vec<u64> = self.snapshot.all_records().iter().map(|r| r.id).collect();
        ids.sort_unstable();
        Ok(ids)
    }
}

/// The ONNX text tower.
pub struct ModelTextEmbedder {
    pub encoder: TextEncoder,
    /// [`model_key`] of the model's checksum.
    pub key: String,
}

impl TextEmbedder for ModelTextEmbedder {
    fn embed_texts(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, BackendError> {
        Ok(self.encoder.embed_texts(texts)?)
    }

    fn resolve_language(&self, language: Option<&str>) -> Option<String> {
        if !self.encoder.takes_language() {
            return None;
        }
        match language.map(|l| (l, self.encoder.resolve_language(l))) {
            Some((_, Some(code))) => Some(code),
            Some((asked, None)) => {
                let fallback = self.encoder.language().map(str::to_string);
                tracing::warn!(
                    "language `{asked}` has no FLORES-200 code in this model's tokenizer; using {}",
                    fallback.as_deref().unwrap_or("its default")
                );
                fallback
            }
            None => self.encoder.language().map(str::to_string),
        }
    }

    fn embed_texts_in(
        &self,
        texts: &[&str],
        language: Option<&str>,
    ) -> Result<Vec<Vec<f32>>, BackendError> {
        Ok(self.encoder.embed_texts_in(texts, language)?)
    }

    fn model_key(&self) -> String {
        self.key.clone()
    }
}

/// The ONNX image tower (decoding, EXIF orientation and preprocessing as at index time), opened
/// on first use: text-only searching never pays for it.
pub struct ModelImageEmbedder {
    spec: ModelSpec,
    session: SessionConfig,
    encoder: std::sync::OnceLock<Result<ImageEncoder, String>>,
}

impl ModelImageEmbedder {
    pub fn lazy(spec: &ModelSpec, session: &SessionConfig) -> Self {
        Self {
            spec: spec.clone(),
            session: session.clone(),
            encoder: std::sync::OnceLock::new(),
        }
    }

    pub fn new(encoder: ImageEncoder, spec: &ModelSpec, session: &SessionConfig) -> Self {
        let this = Self::lazy(spec, session);
        let _ = this.encoder.set(Ok(encoder));
        this
    }
}

impl ImageEmbedder for ModelImageEmbedder {
    fn embed_image_file(&self, path: &Path) -> Result<Vec<f32>, BackendError> {
        let encoder = self.encoder.get_or_init(|| {
            ImageEncoder::open(&self.spec, &self.session).map_err(|e| e.to_string())
        });
        match encoder {
            Ok(encoder) => Ok(encoder.embed_image_file(path)?),
            Err(reason) => Err(format!("the image model cannot be loaded: {reason}").into()),
        }
    }
}

/// Text embeddings as small files named by the BLAKE3 of the cache key: any number of reader
/// processes may share them, and a write is atomic (temp file + rename), so a torn entry is never
/// read back. The full key is stored in the file and compared, so a hash collision cannot return
/// another text's vector.
pub struct FileEmbeddingStore {
    dir: PathBuf,
}

impl FileEmbeddingStore {
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    fn file(&self, key: &[u8]) -> PathBuf {
        let hash = blake3::hash(key).to_hex();
        self.dir.join(&hash[..2]).join(format!("{hash}.f32"))
    }
}

impl EmbeddingStore for FileEmbeddingStore {
    fn get(&self, key: &CacheKey) -> Result<Option<Vec<f32>>, BackendError> {
        let key = key.storage_key();
        let bytes = match std::fs::read(self.file(&key)) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let Some((len, rest)) = bytes.split_first_chunk::<4>() else {
            return Ok(None);
        };
        let len = u32::from_le_bytes(*len) as usize;
        if rest.len() < len || rest[..len] != key[..] {
            return Ok(None);
        }
        Ok(decode_vector(&rest[len..]))
    }

    fn put(&self, key: &CacheKey, vector: &[f32]) -> Result<(), BackendError> {
        let key = key.storage_key();
        let path = self.file(&key);
        let dir = path.parent().expect("cache files live in a shard folder");
        std::fs::create_dir_all(dir)?;
        let mut bytes = Vec::with_capacity(4 + key.len() + vector.len() * 4);
        bytes.extend_from_slice(&(key.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&key);
        bytes.extend_from_slice(&encode_vector(vector));
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        std::io::Write::write_all(&mut tmp, &bytes)?;
        tmp.persist(&path).map_err(|e| e.error)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::PromptKey;

    #[test]
    fn file_store_round_trips_and_keeps_texts_apart() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileEmbeddingStore::new(dir.path().join("text"));
        let key = |text: &str| CacheKey {
            model_key: "m".into(),
            prompts: PromptKey::Raw,
            text: text.into(),
            language: None,
        };
        assert_eq!(store.get(&key("red")).unwrap(), None);
        store.put(&key("red"), &[1.0, -0.5]).unwrap();
        assert_eq!(store.get(&key("red")).unwrap(), Some(vec![1.0, -0.5]));
        assert_eq!(store.get(&key("blue")).unwrap(), None);
        // A second process sees it (same folder, fresh store).
        let again = FileEmbeddingStore::new(dir.path().join("text"));
        assert_eq!(again.get(&key("red")).unwrap(), Some(vec![1.0, -0.5]));
    }

    #[test]
    fn mismatched_model_names_both_sides() {
        let built = ModelIdentity {
            name: "colour".into(),
            checksum: "aaaaaaaaaaaaaaaaaaaa".into(),
            dim: 16,
        };
        let err = check_same_model(Path::new("/lib"), &built, "tiny-hf", 32, "bbbbbbbbbbbbbbbb")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("\"colour\"") && err.contains("\"tiny-hf\""),
            "{err}"
        );
        assert!(
            err.contains("16 dimensions") && err.contains("32 dimensions"),
            "{err}"
        );
        assert!(
            check_same_model(Path::new("/lib"), &built, "x", 16, "aaaaaaaaaaaaaaaaaaaa").is_ok()
        );
    }
}
