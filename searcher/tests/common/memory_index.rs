//! An in-memory library implementing `SearchIndex`: brute-force cosine, or a usearch HNSW index
//! over the same vectors, with the catalog's own filters over plain `ImageRecord`s and a tiny
//! keyword scorer.

use std::collections::HashSet;

use magpie_catalog::words::{text_has_word, TextQuery};
use magpie_catalog::{ExifFields, ImageRecord};
use magpie_searcher::vector::cosine;
use magpie_searcher::{BackendError, Filters, SearchIndex};
use usearch::{Index, IndexOptions, MetricKind, ScalarKind};

pub struct Image {
    pub id: u64,
    pub embedding: Vec<f32>,
    pub record: ImageRecord,
}

/// A record with only what the searcher looks at: `path`, a file date (2017-07-14 UTC, which
/// EXIF `taken_at` overrides), `width`×`height`.
pub fn record(id: u64, path: &str, width: u32, height: u32) -> ImageRecord {
    ImageRecord {
        id,
        path: path.into(),
        size: 1,
        mtime_ns: FILE_DATE * 1_000_000_000,
        content_hash: format!("{id:064x}"),
        width,
        height,
        format: "jpeg".into(),
        exif: ExifFields::default(),
        tags: Vec::new(),
        indexed_at: 0,
        text: None,
    }
}

/// The file modification date of every [`record`], Unix seconds.
pub const FILE_DATE: i64 = 1_500_000_000;

pub struct MemoryIndex {
    pub model_key: String,
    pub images: Vec<Image>,
    hnsw: Option<Index>,
}

impl MemoryIndex {
    pub fn new(model_key: &str, images: Vec<Image>) -> Self {
        Self {
            model_key: model_key.to_string(),
            images,
            hnsw: None,
        }
    }

    /// Answers vector searches from a usearch HNSW index (f32, cosine) instead of brute force.
    pub fn with_hnsw(
        mut self,
        connectivity: usize,
        expansion_add: usize,
        expansion_search: usize,
    ) -> Self {
        let index = Index::new(&IndexOptions {
            dimensions: self.dimensions(),
            metric: MetricKind::Cos,
            quantization: ScalarKind::F32,
            connectivity,
            expansion_add,
            expansion_search,
            multi: false,
        })
        .expect("create usearch index");
        index.reserve(self.images.len()).expect("reserve");
        for image in &self.images {
            index.add(image.id, &image.embedding).expect("add");
        }
        self.hnsw = Some(index);
        self
    }

    fn image(&self, id: u64) -> Option<&Image> {
        self.images.iter().find(|i| i.id == id)
    }

    pub fn matching(&self, filters: &Filters) -> HashSet<u64> {
        self.images
            .iter()
            .filter(|i| filters.matches(&i.record))
            .map(|i| i.id)
            .collect()
    }
}

fn tokens(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(str::to_lowercase)
        .collect()
}

impl SearchIndex for MemoryIndex {
    fn model_key(&self) -> String {
        self.model_key.clone()
    }

    fn dimensions(&self) -> usize {
        self.images[0].embedding.len()
    }

    fn len(&self) -> usize {
        self.images.len()
    }

    fn vector_search(
        &self,
        query: &[f32],
        k: usize,
        allowed: Option<&HashSet<u64>>,
    ) -> Result<Vec<(u64, f32)>, BackendError> {
        if let Some(index) = &self.hnsw {
            let matches = match allowed {
                Some(set) => index.filtered_search(query, k, |key| set.contains(&key))?,
                None => index.search(query, k)?,
            };
            return Ok(matches
                .keys
                .iter()
                .zip(&matches.distances)
                .map(|(&key, &distance)| (key, 1.0 - distance))
                .collect());
        }
        let mut scored: Vec<(u64, f32)> = self
            .images
            .iter()
            .filter(|i| allowed.is_none_or(|set| set.contains(&i.id)))
            .map(|i| (i.id, cosine(query, &i.embedding)))
            .collect();
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        scored.truncate(k);
        Ok(scored)
    }

    /// Name tokens count 3, path, camera and tag tokens 1 each, per query token.
    fn keyword_search(
        &self,
        text: &str,
        limit: usize,
        filters: &Filters,
    ) -> Result<Vec<(u64, f32)>, BackendError> {
        let query = tokens(text);
        let mut scored: Vec<(u64, f32)> = self
            .images
            .iter()
            .filter(|i| filters.matches(&i.record))
            .filter_map(|i| {
                let name = tokens(&i.record.file_name());
                let mut rest = tokens(&i.record.path.to_string_lossy());
                rest.extend(tokens(&i.record.camera()));
                rest.extend(i.record.tags.iter().flat_map(|t| tokens(t)));
                let score: f32 = query
                    .iter()
                    .map(|q| {
                        3.0 * f32::from(u8::from(name.contains(q)))
                            + f32::from(u8::from(rest.contains(q)))
                    })
                    .sum();
                (score > 0.0).then_some((i.id, score))
            })
            .collect();
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        scored.truncate(limit);
        Ok(scored)
    }

    /// One point per query word found in the image's text (whole or as a part, the catalog's
    /// own [`text_has_word`]); complete when every word is found.
    fn image_text_search(
        &self,
        query: &TextQuery,
        limit: usize,
        filters: &Filters,
    ) -> Result<Vec<(u64, f32, bool)>, BackendError> {
        let mut scored: Vec<(u64, f32, bool)> = self
            .images
            .iter()
            .filter(|i| filters.matches(&i.record))
            .filter_map(|i| {
                let text = i.record.text.as_ref()?.joined();
                let found = query
                    .words
                    .iter()
                    .filter(|w| text_has_word(&text, w))
                    .count();
                (found > 0).then_some((i.id, found as f32, found == query.words.len()))
            })
            .collect();
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        scored.truncate(limit);
        Ok(scored)
    }

    fn allowed_ids(&self, filters: &Filters) -> Result<Option<HashSet<u64>>, BackendError> {
        Ok((!filters.is_empty()).then(|| self.matching(filters)))
    }

    fn embedding(&self, id: u64) -> Result<Option<Vec<f32>>, BackendError> {
        Ok(self.image(id).map(|i| i.embedding.clone()))
    }

    fn record(&self, id: u64) -> Option<ImageRecord> {
        Some(self.image(id)?.record.clone())
    }

    fn all_ids(&self) -> Result<Vec<u64>, BackendError> {
        Ok(self.images.iter().map(|i| i.id).collect())
    }
}
