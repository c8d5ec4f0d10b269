//! [`MilvusIndex`]: the searcher's [`SearchIndex`] over a Milvus collection and the shards it
//! was loaded from.
//!
//! Which side answers what:
//! - Milvus: the vector ranking (HNSW, cosine) with the filters as a Milvus expression inside
//!   the search, the stored embeddings (`--like`, exact scans), the row count.
//! - The serving host, from the shards ([`crate::keywords`]): keyword ranking (BM25 over names,
//!   paths, EXIF), image text (the shards carry none, so it finds nothing), each hit's record
//!   (path, date, size for sorting and display), and which ids a filter allows when the engine
//!   asks for the set (it then scans those few exactly, with their embeddings from Milvus).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use magpie_catalog::words::TextQuery;
use magpie_catalog::{Filters, ImageRecord, KeywordIndex, ThumbKind};
use magpie_searcher::{BackendError, BackendUnavailable, SearchIndex};
use magpie_shard::ShardSet;

use crate::address::Backend;
use crate::client::Milvus;
use crate::error::MilvusError;
use crate::expr::{expression, ids_in};
use crate::schema;

/// A collection opened for search.
pub struct MilvusIndex {
    milvus: Milvus,
    collection: String,
    model_key: String,
    model_name: String,
    dimensions: usize,
    rows: usize,
    keywords: KeywordIndex,
    sets: Vec<ShardSet>,
}

impl MilvusIndex {
    /// Opens `backend`'s collection and the shard folders it was loaded from (their keyword
    /// index in `keywords_dir`, built when missing or stale).
    pub fn open(
        backend: &Backend,
        shard_dirs: &[PathBuf],
        keywords_dir: Option<&Path>,
    ) -> Result<Self, MilvusError> {
        let sets = shard_dirs
            .iter()
            .map(|d| ShardSet::open(d))
            .collect::<Result<Vec<_>, _>>()?;
        let milvus = Milvus::connect(&backend.address)?;
        let info = milvus.describe(&backend.collection)?;
        let model_key = info
            .properties
            .get(schema::PROPERTY_MODEL)
            .cloned()
            .unwrap_or_default();
        let dimensions = info.dimensions.unwrap_or(0);
        for set in &sets {
            crate::load::check_collection(
                &milvus,
                &backend.collection,
                set.model_key(),
                set.dimensions(),
                &format!("the shards in {}", set.dir().display()),
            )?;
        }
        milvus.load_collection(&backend.collection)?;
        let rows = milvus.count(&backend.collection)?;
        let dir = keywords_dir
            .map(Path::to_path_buf)
            .unwrap_or_else(|| crate::keywords::default_dir(&sets, &backend.collection));
        let keywords = crate::keywords::keyword_index(&sets, &dir)?;
        if keywords.len() as usize != rows {
            tracing::warn!(
                milvus = rows,
                shards = keywords.len(),
                "the collection and the shard folders hold different numbers of images (load the shards again: magpie milvus load)"
            );
        }
        let model_name = sets
            .first()
            .and_then(|s| s.shards().first())
            .map(|m| m.model_name.clone())
            .unwrap_or_default();
        Ok(Self {
            milvus,
            collection: backend.collection.clone(),
            model_key,
            model_name,
            dimensions,
            rows,
            keywords,
            sets,
        })
    }

    /// The thumbnail file of `id`, from the shard folder that holds it.
    pub fn thumbnail(&self, id: u64, kind: ThumbKind) -> Option<PathBuf> {
        self.sets
            .iter()
            .map(|s| s.thumbnail(id, kind))
            .find(|p| p.is_file())
    }

    pub fn collection(&self) -> &str {
        &self.collection
    }

    /// The name of the model the shards were embedded with.
    pub fn model_name(&self) -> &str {
        &self.model_name
    }

    /// Every record, by id (from the shards).
    pub fn records(&self) -> Vec<ImageRecord> {
        self.keywords.records()
    }

    /// Files the shards could not embed, over every shard folder.
    pub fn failures(&self) -> usize {
        self.sets
            .iter()
            .flat_map(|s| s.shards())
            .map(|m| m.failures.len())
            .sum()
    }
}

/// A server that cannot be reached is the searcher's [`BackendUnavailable`] (a 503 from
/// `magpie serve`, which tries again on the next request); anything else is passed on as is.
impl MilvusIndex {
    /// Runs `call`, loading the collection again and retrying once when Milvus no longer holds
    /// it in memory (a restarted server comes back with its collections released).
    fn loaded<T>(
        &self,
        call: impl Fn(&Milvus) -> Result<T, MilvusError>,
    ) -> Result<T, BackendError> {
        match call(&self.milvus) {
            Err(MilvusError::NotLoaded { .. }) => {
                tracing::info!(collection = %self.collection, "loading the collection again");
                self.milvus
                    .load_collection(&self.collection)
                    .map_err(boxed)?;
                call(&self.milvus).map_err(boxed)
            }
            other => other.map_err(boxed),
        }
    }
}

fn boxed(e: MilvusError) -> BackendError {
    match e {
        MilvusError::Unreachable { address, reason } => Box::new(BackendUnavailable {
            backend: format!("Milvus at {address}"),
            reason,
        }),
        other => Box::new(other),
    }
}

impl SearchIndex for MilvusIndex {
    fn model_key(&self) -> String {
        self.model_key.clone()
    }

    fn dimensions(&self) -> usize {
        self.dimensions
    }

    fn len(&self) -> usize {
        self.rows
    }

    fn vector_search(
        &self,
        query: &[f32],
        k: usize,
        allowed: Option<&HashSet<u64>>,
    ) -> Result<Vec<(u64, f32)>, BackendError> {
        let filter = allowed.map(|set| ids_in(&set.iter().copied().collect::<Vec<_>>()));
        self.loaded(|m| m.search(&self.collection, query, k, filter.as_deref()))
    }

    fn vector_search_filtered(
        &self,
        query: &[f32],
        k: usize,
        filters: &Filters,
        _allowed: Option<&HashSet<u64>>,
    ) -> Result<Vec<(u64, f32)>, BackendError> {
        let filter = expression(filters).map_err(boxed)?;
        self.loaded(|m| m.search(&self.collection, query, k, filter.as_deref()))
    }

    fn keyword_search(
        &self,
        text: &str,
        limit: usize,
        filters: &Filters,
    ) -> Result<Vec<(u64, f32)>, BackendError> {
        Ok(self.keywords.keyword_search(text, filters, limit)?)
    }

    fn image_text_search(
        &self,
        query: &TextQuery,
        limit: usize,
        filters: &Filters,
    ) -> Result<Vec<(u64, f32, bool)>, BackendError> {
        Ok(self.keywords.image_text_search(query, filters, limit)?)
    }

    fn allowed_ids(&self, filters: &Filters) -> Result<Option<HashSet<u64>>, BackendError> {
        if filters.is_empty() {
            return Ok(None);
        }
        // A filter Milvus cannot answer fails here, before any search.
        expression(filters).map_err(boxed)?;
        Ok(Some(self.keywords.filter_ids(filters)?))
    }

    fn embedding(&self, id: u64) -> Result<Option<Vec<f32>>, BackendError> {
        let mut found = self.loaded(|m| m.embeddings(&self.collection, &[id]))?;
        Ok(found.remove(&id))
    }

    fn embeddings(&self, ids: &[u64]) -> Result<Vec<Option<Vec<f32>>>, BackendError> {
        let mut found = self.loaded(|m| m.embeddings(&self.collection, ids))?;
        Ok(ids.iter().map(|id| found.remove(id)).collect())
    }

    fn record(&self, id: u64) -> Option<ImageRecord> {
        self.keywords.get(id)
    }

    fn all_ids(&self) -> Result<Vec<u64>, BackendError> {
        Ok(self.keywords.records().into_iter().map(|r| r.id).collect())
    }
}
