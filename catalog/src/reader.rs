//! Readers: any number, in any process, without a lock.
//!
//! A reader never opens sled (sled allows one process). It reads the tantivy index (records are
//! stored there in full) and memory-maps the usearch file, and it only ever switches to a
//! generation that both reflect, so a search never sees an image in one store and not the other.
//! [`Reader::refresh`] picks up newly committed images without restarting.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use crate::error::{CatalogError, Result};
use crate::record::{Failure, ImageId, ImageRecord, ModelIdentity};
use crate::text::{TextIndex, TextSnapshot};
use crate::vectors::{read_sidecar, VectorIndex};
use crate::{Filters, LibraryLayout, Stats, ThumbKind};

/// One consistent view of the library.
pub struct Snapshot {
    pub generation: u64,
    text: TextSnapshot,
    vectors: VectorIndex,
}

impl Snapshot {
    pub fn len(&self) -> u64 {
        self.text.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, id: ImageId) -> Option<ImageRecord> {
        self.text.get(id)
    }

    pub fn all_records(&self) -> Vec<ImageRecord> {
        self.text.all()
    }

    /// Every record, one at a time and in no particular order: for library-wide summaries that
    /// need not hold a million records at once.
    pub fn for_each_record(&self, each: impl FnMut(ImageRecord)) {
        self.text.for_each(each)
    }

    /// Approximate nearest neighbours (HNSW), cosine similarity, optionally restricted to `allowed`.
    pub fn vector_search(
        &self,
        query: &[f32],
        k: usize,
        allowed: Option<&HashSet<ImageId>>,
    ) -> Result<Vec<(ImageId, f32)>> {
        match allowed {
            Some(set) => {
                let filter = |id: ImageId| set.contains(&id);
                self.vectors.search(query, k, Some(&filter))
            }
            None => self.vectors.search(query, k, None),
        }
    }

    /// Exact cosine ranking of `candidates` (for small filtered sets, where a graph walk that
    /// rejects most nodes would miss results).
    pub fn exact_search(
        &self,
        query: &[f32],
        candidates: &HashSet<ImageId>,
        k: usize,
    ) -> Vec<(ImageId, f32)> {
        let mut scored: Vec<(ImageId, f32)> = candidates
            .iter()
            .filter_map(|id| self.vectors.get(*id).map(|v| (*id, cosine(query, &v))))
            .collect();
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        scored.truncate(k);
        scored
    }

    pub fn embedding(&self, id: ImageId) -> Option<Vec<f32>> {
        self.vectors.get(id)
    }

    pub fn filter_ids(&self, filters: &Filters) -> Result<HashSet<ImageId>, String> {
        self.text.filter_ids(filters)
    }

    pub fn keyword_search(
        &self,
        text: &str,
        filters: &Filters,
        limit: usize,
    ) -> Result<Vec<(ImageId, f32)>, String> {
        self.text.keyword_search(text, filters, limit)
    }

    /// Images whose OCR text matches `query` (see [`crate::words`]), best first, each flagged
    /// when it holds every word and phrase of the query.
    pub fn image_text_search(
        &self,
        query: &crate::words::TextQuery,
        filters: &Filters,
        limit: usize,
    ) -> Result<Vec<(ImageId, f32, bool)>, String> {
        self.text.image_text_search(query, filters, limit)
    }

    /// How many images OCR has read, and in how many it found text.
    pub fn text_counts(&self) -> (u64, u64) {
        self.text.text_counts()
    }

    pub fn vectors_len(&self) -> usize {
        self.vectors.len()
    }
}

pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let (mut dot, mut na, mut nb) = (0f32, 0f32, 0f32);
    for (x, y) in a.iter().zip(b) {
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na.sqrt() * nb.sqrt())
    }
}

pub struct Reader {
    layout: LibraryLayout,
    text: TextIndex,
    text_reader: tantivy::IndexReader,
    model: ModelIdentity,
    current: RwLock<Arc<Snapshot>>,
}

impl Reader {
    pub fn open(dir: &Path) -> Result<Self> {
        let layout = LibraryLayout::new(dir);
        match magpie_migrations::read_version(&layout.root)? {
            None => {
                return Err(CatalogError::NotALibrary {
                    path: layout.root.clone(),
                })
            }
            Some(v) if v > magpie_migrations::CURRENT_VERSION => {
                return Err(magpie_migrations::MigrationError::TooNew {
                    path: layout.root.clone(),
                    found: v,
                    supported: magpie_migrations::CURRENT_VERSION,
                }
                .into())
            }
            // A reader never upgrades: that rewrites the database, which only the lock holder
            // may do.
            Some(v) if v < magpie_migrations::CURRENT_VERSION => {
                return Err(CatalogError::NeedsUpgrade {
                    path: layout.root.clone(),
                    found: v,
                    current: magpie_migrations::CURRENT_VERSION,
                })
            }
            Some(_) => {}
        }
        let model_path = layout.model_file();
        let model_bytes = std::fs::read(&model_path).map_err(|_| CatalogError::NotALibrary {
            path: layout.root.clone(),
        })?;
        let model: ModelIdentity =
            serde_json::from_slice(&model_bytes).map_err(|e| CatalogError::Corrupt {
                path: model_path,
                reason: e.to_string(),
            })?;
        let text = TextIndex::open(&layout.text_dir(), false)?;
        let text_reader = text.reader()?;
        let snapshot = Self::load(&layout, &text, &text_reader, &model)?;
        Ok(Self {
            layout,
            text,
            text_reader,
            model,
            current: RwLock::new(Arc::new(snapshot)),
        })
    }

    /// Loads the newest generation that tantivy and usearch both reflect. A writer between its
    /// tantivy and usearch steps is waited for briefly.
    fn load(
        layout: &LibraryLayout,
        text: &TextIndex,
        text_reader: &tantivy::IndexReader,
        model: &ModelIdentity,
    ) -> Result<Snapshot> {
        let mut last_error = None;
        for attempt in 0..50 {
            if attempt > 0 {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            let text_generation = text.generation()?;
            let Some(sidecar) = read_sidecar(&layout.root)? else {
                if layout.db_dir().is_dir() {
                    return Err(CatalogError::Corrupt {
                        path: layout.root.clone(),
                        reason:
                            "the vector index (vectors.json) is missing; if no writer is running, \
                                 `magpie library rebuild` rebuilds it from the database"
                                .into(),
                    });
                }
                return Err(CatalogError::NotALibrary {
                    path: layout.root.clone(),
                });
            };
            if sidecar.generation != text_generation {
                last_error = Some(format!(
                    "keyword index at {text_generation}, vectors at {}",
                    sidecar.generation
                ));
                continue;
            }
            text_reader
                .reload()
                .map_err(CatalogError::text(text.dir()))?;
            let searcher = text_reader.searcher();
            if text.generation()? != text_generation {
                continue;
            }
            if sidecar.dim != model.dim {
                return Err(CatalogError::Corrupt {
                    path: layout.root.clone(),
                    reason: format!(
                        "vector index dim {} but model dim {}",
                        sidecar.dim, model.dim
                    ),
                });
            }
            let vectors = match VectorIndex::open(&layout.root, &sidecar, true) {
                Ok(v) => v,
                Err(e) => {
                    // The writer may have replaced the file since we read the sidecar.
                    if read_sidecar(&layout.root)?.map(|s| s.generation) != Some(sidecar.generation)
                    {
                        continue;
                    }
                    return Err(e);
                }
            };
            let index =
                tantivy::Index::open_in_dir(text.dir()).map_err(CatalogError::text(text.dir()))?;
            return Ok(Snapshot {
                generation: text_generation,
                text: TextSnapshot {
                    searcher,
                    fields: text.fields(),
                    index,
                },
                vectors,
            });
        }
        Err(CatalogError::Corrupt {
            path: layout.root.clone(),
            reason: format!(
                "the keyword and vector indexes disagree ({}); if no writer is running, run `magpie library rebuild`",
                last_error.unwrap_or_default()
            ),
        })
    }

    /// The current snapshot (cheap; hold it for the duration of one query).
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current
            .read()
            .map(|s| s.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// Switches to a newer committed generation if there is one. Returns the generation in use.
    pub fn refresh(&self) -> Result<u64> {
        let current = self.snapshot().generation;
        let on_disk = read_sidecar(&self.layout.root)?
            .map(|s| s.generation)
            .unwrap_or(current);
        if on_disk == current && self.text.generation()? == current {
            return Ok(current);
        }
        match Self::load(&self.layout, &self.text, &self.text_reader, &self.model) {
            Ok(snapshot) => {
                let generation = snapshot.generation;
                if let Ok(mut guard) = self.current.write() {
                    *guard = Arc::new(snapshot);
                }
                Ok(generation)
            }
            // A writer mid-commit: keep serving the last consistent snapshot.
            Err(e) => {
                tracing::debug!("refresh skipped: {e}");
                Ok(current)
            }
        }
    }

    pub fn model(&self) -> &ModelIdentity {
        &self.model
    }

    pub fn layout(&self) -> &LibraryLayout {
        &self.layout
    }

    pub fn thumbnail_path(&self, record: &ImageRecord, kind: ThumbKind) -> Option<PathBuf> {
        let path = self.layout.thumbnail(&record.content_hash, kind);
        path.exists().then_some(path)
    }

    /// Files the indexer could not index, as of the last commit that changed them.
    pub fn failures(&self) -> Vec<Failure> {
        std::fs::read(self.layout.failures_file())
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    pub fn stats(&self) -> Result<Stats> {
        let s = self.snapshot();
        Ok(crate::stats_for(
            &self.layout,
            Some(self.model.clone()),
            s.generation,
            s.len(),
            s.vectors_len(),
            self.failures().len(),
            s.text_counts(),
        ))
    }
}
