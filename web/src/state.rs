//! What every request shares: the service (a library or a remote backend), the settings, the metrics, and facts derived
//! from one library generation (folder root, facets, failure count; near-duplicate groups).
//!
//! The facts need a pass over every record (seconds at a million images), so they are never
//! recomputed on a request's time: after a writer commits, requests go on with the previous
//! generation's facts while one background thread computes the new ones. Only the very first
//! request of a server that has none yet waits for them (`magpie serve` computes them before it
//! starts listening).
//!
//! Near-duplicate groups (`/api/duplicates`) cost a vector search per image, so they are cached
//! per generation and threshold: a repeated request is answered from the cache, and the first
//! request after a commit computes them afresh for the new generation.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use std::collections::HashMap;

use magpie_searcher::{Collection, DupeGroup, LibrarySearch, SearchError, SearchService};
use serde::Deserialize;

use crate::config::ServerConfig;
use crate::metrics::Metrics;
use crate::present::{self, Facets, Indexing};

/// An indexer's progress file older than this is left over from a run that ended or crashed.
const PROGRESS_STALE_AFTER_SECS: i64 = 30;
/// The optional file in which `magpie index` reports its progress to readers.
pub const PROGRESS_FILE: &str = "progress.json";

/// Derived from one generation of the library.
#[derive(Debug)]
pub struct LibraryFacts {
    pub generation: u64,
    /// The deepest folder holding every image; API folders are relative to it.
    pub root: PathBuf,
    pub facets: Facets,
    pub failures: u64,
}

pub struct AppState {
    pub(crate) service: Arc<dyn SearchService>,
    pub(crate) config: ServerConfig,
    pub(crate) metrics: Metrics,
    facts: Arc<FactsCache>,
    duplicates: Mutex<DuplicatesCache>,
}

/// Near-duplicate groups of one generation, by threshold (`f32::to_bits`).
#[derive(Default)]
struct DuplicatesCache {
    generation: u64,
    by_threshold: HashMap<u32, Arc<Vec<DupeGroup>>>,
}

/// Thresholds remembered per generation: a client sweeping thresholds cannot grow the cache.
const DUPLICATE_THRESHOLDS_KEPT: usize = 8;

/// The newest facts computed, and whether a thread is computing newer ones.
#[derive(Default)]
struct FactsCache {
    current: Mutex<Option<Arc<LibraryFacts>>>,
    refreshing: AtomicBool,
}

impl FactsCache {
    /// Keeps `facts` unless the cache already holds a newer generation's.
    fn offer(&self, facts: Arc<LibraryFacts>) {
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        if current
            .as_ref()
            .is_none_or(|c| c.generation < facts.generation)
        {
            *current = Some(facts);
        }
    }
}

/// One pass over `collection`'s records.
fn compute_facts(service: &dyn SearchService, collection: &dyn Collection) -> LibraryFacts {
    let mut counter = present::FacetCounter::default();
    collection.for_each_record(&mut |record| counter.add(record));
    let (root, facets) = counter.finish();
    LibraryFacts {
        generation: collection.generation(),
        facets,
        failures: service.failures(),
        root,
    }
}

/// A counting semaphore for the blocking pool, one per process (every `AppState` over the same
/// library shares the same usearch index, so the limit must be shared too).
///
/// Searches are CPU-bound (model runs, HNSW walks), so running more at once than there are cores
/// only adds latency. It is also a correctness limit: usearch serves concurrent searches from a
/// fixed pool of thread contexts (one per hardware thread unless the index reserved more), and a
/// search finding none free fails with "Reserve capacity ahead of searches!".
struct Permits {
    available: Mutex<usize>,
    freed: Condvar,
}

/// Held while one search runs.
pub(crate) struct Permit<'a>(&'a Permits);

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        *self.0.available.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        self.0.freed.notify_one();
    }
}

impl Permits {
    fn new(count: usize) -> Self {
        Self {
            available: Mutex::new(count.max(1)),
            freed: Condvar::new(),
        }
    }

    fn acquire(&self) -> Permit<'_> {
        let mut available = self.available.lock().unwrap_or_else(|p| p.into_inner());
        while *available == 0 {
            available = self
                .freed
                .wait(available)
                .unwrap_or_else(|p| p.into_inner());
        }
        *available -= 1;
        Permit(self)
    }
}

impl AppState {
    pub fn new(library: LibrarySearch, config: ServerConfig) -> Self {
        Self::shared(Arc::new(library), config)
    }

    /// For a library that other code holds too (a load test indexing and serving in one process).
    pub fn shared(library: Arc<LibrarySearch>, config: ServerConfig) -> Self {
        Self::serving(Arc::new(library), config)
    }

    /// For any [`SearchService`]: a library, or a remote backend (`magpie-milvus`).
    pub fn serving(service: Arc<dyn SearchService>, config: ServerConfig) -> Self {
        Self {
            service,
            config,
            metrics: Metrics::default(),
            facts: Arc::default(),
            duplicates: Mutex::default(),
        }
    }

    /// Waits (on a blocking-pool thread) until fewer searches run than there are CPUs.
    pub(crate) fn search_permit(&self) -> Permit<'static> {
        static PERMITS: OnceLock<Permits> = OnceLock::new();
        PERMITS
            .get_or_init(|| {
                Permits::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
            })
            .acquire()
    }

    pub fn service(&self) -> &dyn SearchService {
        self.service.as_ref()
    }

    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// The newest facts available for `collection`: those of its generation, or, while a
    /// background thread computes those, of the generation before. Computed here, once, only
    /// when there are none at all (a burst of first requests waits on the same computation).
    pub(crate) fn facts(&self, collection: &Arc<dyn Collection>) -> Arc<LibraryFacts> {
        let generation = collection.generation();
        let mut current = self.facts.current.lock().unwrap_or_else(|p| p.into_inner());
        match current.as_ref() {
            Some(facts) if facts.generation >= generation => facts.clone(),
            Some(stale) => {
                let stale = stale.clone();
                drop(current);
                self.refresh_in_background(collection);
                stale
            }
            None => {
                let facts = Arc::new(compute_facts(self.service.as_ref(), collection.as_ref()));
                *current = Some(facts.clone());
                facts
            }
        }
    }

    /// Starts a thread computing `index`'s facts, unless one is already running (it will be
    /// followed by another if the library has moved on again by the time it ends).
    fn refresh_in_background(&self, collection: &Arc<dyn Collection>) {
        if self.facts.refreshing.swap(true, Ordering::AcqRel) {
            return;
        }
        let (cache, service, collection) =
            (self.facts.clone(), self.service.clone(), collection.clone());
        let spawned = std::thread::Builder::new()
            .name("magpie-facts".into())
            .spawn(move || {
                let started = std::time::Instant::now();
                let facts = compute_facts(service.as_ref(), collection.as_ref());
                tracing::debug!(
                    generation = facts.generation,
                    images = collection.index().len(),
                    seconds = started.elapsed().as_secs_f64(),
                    "library facets recomputed"
                );
                cache.offer(Arc::new(facts));
                cache.refreshing.store(false, Ordering::Release);
            });
        if let Err(e) = spawned {
            tracing::warn!("cannot start a thread for the library facets: {e}");
            self.facts.refreshing.store(false, Ordering::Release);
        }
    }

    /// Near-duplicate groups of the newest generation at `threshold`: from the cache when this
    /// generation's were computed before, else computed now (on the caller's blocking thread).
    /// Concurrent requests wait for one computation rather than each doing their own.
    pub(crate) fn duplicates(&self, threshold: f32) -> Result<Arc<Vec<DupeGroup>>, SearchError> {
        let collection = self.service.collection();
        let generation = collection.generation();
        let mut cache = self.duplicates.lock().unwrap_or_else(|p| p.into_inner());
        if cache.generation != generation {
            cache.generation = generation;
            cache.by_threshold.clear();
        }
        if let Some(groups) = cache.by_threshold.get(&threshold.to_bits()) {
            return Ok(groups.clone());
        }
        // A search permit only for the computation: requests waiting for it hold none.
        let permit = self.search_permit();
        let groups = Arc::new(magpie_searcher::engine::find_duplicates(
            collection.index(),
            threshold,
            magpie_searcher::library::DUPE_NEIGHBOURS,
        )?);
        drop(permit);
        self.metrics.duplicate_pass();
        if cache.by_threshold.len() >= DUPLICATE_THRESHOLDS_KEPT {
            cache.by_threshold.clear();
        }
        cache
            .by_threshold
            .insert(threshold.to_bits(), groups.clone());
        Ok(groups)
    }

    /// Indexing progress from the indexer's progress file, when one is running.
    pub(crate) fn indexing(&self) -> Indexing {
        self.service
            .library_dir()
            .map(|dir| read_progress(&dir))
            .unwrap_or_default()
    }
}

#[derive(Debug, Deserialize)]
struct ProgressFile {
    #[serde(default)]
    active: bool,
    #[serde(default)]
    processed: u64,
    #[serde(default)]
    total: u64,
    #[serde(default)]
    images_per_sec: f64,
    /// Unix seconds of the last update.
    #[serde(default)]
    updated_at: i64,
}

/// Reads `<library>/progress.json` (`{"active", "processed", "total", "images_per_sec",
/// "updated_at"}`); absent, unreadable or stale means "not indexing".
pub fn read_progress(library: &Path) -> Indexing {
    let Some(progress) = std::fs::read(library.join(PROGRESS_FILE))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<ProgressFile>(&bytes).ok())
    else {
        return Indexing::default();
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    if !progress.active || now - progress.updated_at > PROGRESS_STALE_AFTER_SECS {
        return Indexing::default();
    }
    Indexing {
        active: true,
        processed: progress.processed.min(progress.total),
        total: progress.total,
        images_per_sec: if progress.images_per_sec.is_finite() {
            progress.images_per_sec.max(0.0)
        } else {
            0.0
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_is_read_only_while_fresh() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!read_progress(dir.path()).active);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let write = |updated: u64| {
            let text = format!(
                r#"{{"active":true,"processed":5,"total":9,"images_per_sec":2.5,"updated_at":{updated}}}"#
            );
            std::fs::write(dir.path().join(PROGRESS_FILE), text).unwrap();
        };
        write(now);
        let fresh = read_progress(dir.path());
        assert!(fresh.active);
        assert_eq!((fresh.processed, fresh.total), (5, 9));
        write(now - 3600);
        assert!(!read_progress(dir.path()).active);
        std::fs::write(dir.path().join(PROGRESS_FILE), "not json").unwrap();
        assert!(!read_progress(dir.path()).active);
    }
}
