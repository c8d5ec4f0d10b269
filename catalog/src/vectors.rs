//! The HNSW vector index (usearch), derived from sled.
//!
//! Each save writes a new file `vectors-<generation>.usearch`, then atomically replaces the
//! sidecar `vectors.json` that names it. A reader therefore always maps a complete file; the
//! writer keeps the previous file for one generation so a reader that has just read the sidecar
//! can still open it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use usearch::{Index, IndexOptions, MetricKind, ScalarKind};

use crate::error::{CatalogError, Result};
use crate::record::ImageId;
use crate::tuning::{self, SearchTuning};

/// HNSW parameters (M, efConstruction, ef), chosen by the searcher's recall test
/// (`searcher/tests/hnsw_recall.rs`, which uses these very constants; see `magpie_searcher::hnsw`
/// for the measured table). `EXPANSION_SEARCH` is the breadth of a library too small to be
/// measured, or measured before this was: ef 4096 keeps recall@10 ≥ 0.98 on 100 k uniformly
/// random 128-d directions, the worst case for a graph index. From
/// [`tuning::TUNE_MIN_VECTORS`] on, the library measures the breadth its own vectors need
/// (`crate::tuning`), which for clustered, CLIP-like data is far lower.
pub const CONNECTIVITY: usize = 16;
pub const EXPANSION_ADD: usize = 128;
pub const EXPANSION_SEARCH: usize = 4096;

/// How vectors are stored in the HNSW index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Quantization {
    #[default]
    F16,
    I8,
}

impl std::str::FromStr for Quantization {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "f16" => Ok(Self::F16),
            "i8" => Ok(Self::I8),
            other => Err(format!("unknown quantization {other:?} (f16 or i8)")),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Sidecar {
    pub generation: u64,
    pub file: String,
    pub dim: usize,
    pub quantization: Quantization,
    pub count: usize,
    /// The measured search breadth; absent in libraries too small for it (or written before it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tuning: Option<SearchTuning>,
}

pub(crate) const SIDECAR: &str = "vectors.json";

pub(crate) fn read_sidecar(dir: &Path) -> Result<Option<Sidecar>> {
    let path = dir.join(SIDECAR);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| CatalogError::Vectors {
                path,
                reason: format!("unreadable sidecar: {e}"),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(CatalogError::io(path)(e)),
    }
}

fn options(dim: usize, quantization: Quantization) -> IndexOptions {
    IndexOptions {
        dimensions: dim,
        metric: MetricKind::Cos,
        quantization: match quantization {
            Quantization::F16 => ScalarKind::F16,
            Quantization::I8 => ScalarKind::I8,
        },
        connectivity: CONNECTIVITY,
        expansion_add: EXPANSION_ADD,
        expansion_search: EXPANSION_SEARCH,
        multi: false,
    }
}

/// Wraps a usearch index with the library's conventions.
pub struct VectorIndex {
    index: Index,
    path: PathBuf,
    dim: usize,
    quantization: Quantization,
    /// What the breadth searches use was measured as, if it was (see `crate::tuning`).
    tuning: Option<SearchTuning>,
}

/// Below this many vectors per thread, a parallel insert or check is not worth its threads.
const PARALLEL_MIN_CHUNK: usize = 256;

/// Concurrent searches one index supports (see [`VectorIndex::open`]).
pub const MIN_SEARCH_SLOTS: usize = 64;

fn search_slots() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    (cores * 4).max(MIN_SEARCH_SLOTS)
}

impl VectorIndex {
    pub fn new(dir: &Path, dim: usize, quantization: Quantization) -> Result<Self> {
        let path = dir.join(SIDECAR);
        let index = Index::new(&options(dim, quantization)).map_err(|e| CatalogError::Vectors {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        Ok(Self {
            index,
            path,
            dim,
            quantization,
            tuning: None,
        })
    }

    /// Loads (writer: `view == false`) or memory-maps (reader) the file the sidecar names.
    pub fn open(dir: &Path, sidecar: &Sidecar, view: bool) -> Result<Self> {
        let path = dir.join(&sidecar.file);
        let err = |reason: String| CatalogError::Vectors {
            path: path.clone(),
            reason,
        };
        let meta = std::fs::metadata(&path).map_err(|e| err(format!("cannot open: {e}")))?;
        if meta.len() == 0 {
            return Err(err("file is empty (truncated)".into()));
        }
        let index = Index::new(&options(sidecar.dim, sidecar.quantization))
            .map_err(|e| err(e.to_string()))?;
        let path_str = path.to_string_lossy();
        let loaded = if view {
            index.view(&path_str)
        } else {
            index.load(&path_str)
        };
        loaded.map_err(|e| {
            err(format!(
                "cannot read ({e}); the file is damaged: run `magpie library rebuild`"
            ))
        })?;
        if index.dimensions() != sidecar.dim {
            return Err(err(format!(
                "holds {}-dimensional vectors, expected {}",
                index.dimensions(),
                sidecar.dim
            )));
        }
        if index.size() != sidecar.count {
            return Err(err(format!(
                "holds {} vectors, its sidecar says {}",
                index.size(),
                sidecar.count
            )));
        }
        // usearch keeps one search context per "thread slot" and, after a load or view, has only
        // one per hardware thread: a server running more searches at once than cores would get
        // "Reserve capacity ahead of searches!". Contexts are small, so reserve plenty.
        index
            .reserve_capacity_and_threads(index.size(), search_slots())
            .map_err(|e| err(format!("cannot reserve search threads: {e}")))?;
        let tuning = sidecar.tuning.clone();
        index.change_expansion_search(expansion_for(tuning.as_ref()));
        Ok(Self {
            index,
            path,
            dim: sidecar.dim,
            quantization: sidecar.quantization,
            tuning,
        })
    }

    fn err(&self, e: impl std::fmt::Display) -> CatalogError {
        CatalogError::Vectors {
            path: self.path.clone(),
            reason: e.to_string(),
        }
    }

    pub fn len(&self) -> usize {
        self.index.size()
    }

    pub fn quantization(&self) -> Quantization {
        self.quantization
    }

    /// The last measurement of the search breadth, if the library has been measured.
    pub fn tuning(&self) -> Option<&SearchTuning> {
        self.tuning.as_ref()
    }

    /// The breadth (HNSW ef) searches use.
    pub fn expansion_search(&self) -> usize {
        expansion_for(self.tuning.as_ref())
    }

    /// Measures the breadth again (see [`Self::tune`]) when the index has reached, outgrown or
    /// shrunk below the size it was last measured at (`crate::tuning::needs_tuning`).
    pub(crate) fn retune_if_due(
        &mut self,
        id_limit: u64,
        target: f64,
        max_breadth: usize,
    ) -> Result<()> {
        if !tuning::needs_tuning(self.tuning.as_ref(), self.len()) {
            return Ok(());
        }
        let started = std::time::Instant::now();
        let tuning = self.tune(id_limit, target, max_breadth)?;
        tracing::info!(index = %self.path.display(),
            vectors = self.len(),
            expansion_search = self.expansion_search(),
            worst_recall = tuning.as_ref().map(|t| t.worst_recall()),
            seconds = started.elapsed().as_secs_f64(),
            "measured the search breadth");
        Ok(())
    }

    /// Measures the search breadth, at most `max_breadth`, this library's vectors need for
    /// recall@10 ≥ `target` (see `crate::tuning`) and uses it from now on; `id_limit` bounds the
    /// ids to sample from. A library below [`tuning::TUNE_MIN_VECTORS`] goes back to the default
    /// breadth instead.
    ///
    /// Costs one exact scan per probe (192 probes) plus the probes' searches at each breadth
    /// tried: about a second at 100 k clustered vectors on 2 cores.
    pub fn tune(
        &mut self,
        id_limit: u64,
        target: f64,
        max_breadth: usize,
    ) -> Result<Option<SearchTuning>> {
        if self.len() < tuning::TUNE_MIN_VECTORS {
            self.set_tuning(None);
            return Ok(None);
        }
        // Seeded by the size, so measuring the same library twice gives the same probes.
        let seed = self.len() as u64;
        let ids = tuning::sample_ids(id_limit, tuning::PROBE_BASES, seed, |id| {
            self.index.contains(id)
        });
        let bases: Vec<(ImageId, Vec<f32>)> = ids
            .into_iter()
            .filter_map(|id| self.get(id).map(|v| (id, v)))
            .collect();
        if bases.len() < tuning::PROBE_BASES / 4 {
            tracing::warn!(index = %self.path.display(), found = bases.len(),
                "too few live vectors found to measure the search breadth; keeping the default");
            self.set_tuning(None);
            return Ok(None);
        }
        let probes = tuning::probes(&bases, seed);
        let k = tuning::PROBE_K;
        let (index, quantization) = (&self.index, self.quantization);
        // One extra neighbour, so that leaving out the probe's own vector still leaves k.
        let truth = map_on_all_cores(&probes, |p| {
            exact_search_vector(index, quantization, &p.vector, k + 1)
                .map(|m| tuning::top_k_without(&m.keys, p.exclude, k))
        })
        .map_err(|e| self.err(e))?;
        let mut chosen = None;
        let ladder: Vec<usize> = tuning::LADDER
            .iter()
            .copied()
            .filter(|&ef| ef <= max_breadth)
            .collect();
        let ladder = if ladder.is_empty() {
            vec![max_breadth.max(tuning::PROBE_K)]
        } else {
            ladder
        };
        for ef in ladder {
            self.index.change_expansion_search(ef);
            let (index, quantization) = (&self.index, self.quantization);
            let found = map_on_all_cores(&probes, |p| {
                search_vector(index, quantization, &p.vector, k + 1, None)
                    .map(|m| tuning::top_k_without(&m.keys, p.exclude, k))
            });
            let found = match found {
                Ok(found) => found,
                Err(e) => {
                    self.index
                        .change_expansion_search(expansion_for(self.tuning.as_ref()));
                    return Err(self.err(e));
                }
            };
            let recall = tuning::recall_by_family(&probes, &truth, &found);
            let reached = recall.iter().all(|f| f.recall >= target);
            tracing::debug!(index = %self.path.display(), ef, ?recall, "search breadth tried");
            chosen = Some(SearchTuning {
                expansion_search: ef,
                target_recall: target,
                max_expansion_search: max_breadth,
                reached,
                vectors: self.len(),
                probes: bases.len(),
                recall,
            });
            if reached {
                break;
            }
        }
        self.set_tuning(chosen.clone());
        Ok(chosen)
    }

    fn set_tuning(&mut self, tuning: Option<SearchTuning>) {
        self.index
            .change_expansion_search(expansion_for(tuning.as_ref()));
        self.tuning = tuning;
    }

    pub fn contains(&self, id: ImageId) -> bool {
        self.index.contains(id)
    }

    /// Adds or replaces many vectors at once, on all cores: usearch supports concurrent adds into
    /// reserved space, and a single-threaded insert (~350/s at 100 k on one core) is what made
    /// large first indexes and `magpie library rebuild` slow. Ids must be distinct.
    pub fn upsert_many(&mut self, items: &[(ImageId, Vec<f32>)]) -> Result<()> {
        if let Some((id, v)) = items.iter().find(|(_, v)| v.len() != self.dim) {
            return Err(CatalogError::Dimension {
                what: format!("image {id}"),
                got: v.len(),
                want: self.dim,
            });
        }
        for (id, _) in items {
            if self.index.contains(*id) {
                self.index.remove(*id).map_err(|e| self.err(e))?;
            }
        }
        let needed = self.index.size() + items.len();
        if needed > self.index.capacity() {
            let grow = needed.max(self.index.capacity() * 2).max(1024);
            self.index
                .reserve_capacity_and_threads(grow, search_slots())
                .map_err(|e| self.err(e))?;
        }
        let (index, quantization) = (&self.index, self.quantization);
        on_all_cores(items, |(id, v)| add_vector(index, quantization, *id, v))
            .map_err(|e| self.err(e))?;
        if threads_for(items.len()) > 1 {
            self.relink_unreachable(items)?;
        }
        Ok(())
    }

    /// Re-inserts, one at a time, every vector of `items` that a search cannot reach.
    ///
    /// usearch 2.26's concurrent `add` can leave a node stored (`contains` is true) but with no
    /// path to it from the entry point (unum-cloud/USearch#735, unfixed in 2.26): about one
    /// large parallel insert in three here stranded at least one image, which then no query
    /// could ever return. A self-search at the insert beam finds each stranded node; removing
    /// and re-adding it alone links it like a serial insert would. The check is a search per
    /// vector on all cores and costs about as much as the parallel insert it guards (100 k
    /// random 512-d vectors: 66 s → 136 s on 2 cores), still ahead of a serial insert (~350/s,
    /// ~290 s); serial inserts (small commits) have no such race and skip it.
    fn relink_unreachable(&mut self, items: &[(ImageId, Vec<f32>)]) -> Result<()> {
        self.index.change_expansion_search(EXPANSION_ADD);
        let outcome = self.relink_at_insert_beam(items);
        self.index
            .change_expansion_search(expansion_for(self.tuning.as_ref()));
        outcome
    }

    fn relink_at_insert_beam(&mut self, items: &[(ImageId, Vec<f32>)]) -> Result<()> {
        let stranded = std::sync::Mutex::new(Vec::new());
        let (index, quantization) = (&self.index, self.quantization);
        on_all_cores(items, |(id, v)| {
            if !finds_itself(index, quantization, *id, v)? {
                stranded
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((*id, v.as_slice()));
            }
            Ok(())
        })
        .map_err(|e| self.err(e))?;
        let stranded = stranded.into_inner().unwrap_or_else(|e| e.into_inner());
        if stranded.is_empty() {
            return Ok(());
        }
        // Whether a removed slot is reused is usearch's business; room for all keeps it safe.
        let needed = self.index.size() + stranded.len();
        if needed > self.index.capacity() {
            self.index
                .reserve_capacity_and_threads(needed, search_slots())
                .map_err(|e| self.err(e))?;
        }
        let mut still = 0;
        for &(id, v) in &stranded {
            self.index.remove(id).map_err(|e| self.err(e))?;
            add_vector(&self.index, self.quantization, id, v).map_err(|e| self.err(e))?;
            if !finds_itself(&self.index, self.quantization, id, v).map_err(|e| self.err(e))? {
                still += 1;
            }
        }
        tracing::debug!(
            index = %self.path.display(),
            relinked = stranded.len(),
            still_unreached = still,
            "re-inserted vectors a parallel insert left unreachable"
        );
        Ok(())
    }

    pub fn remove(&mut self, id: ImageId) -> Result<()> {
        if self.index.contains(id) {
            self.index.remove(id).map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    /// Nearest neighbours by cosine similarity (1 − distance), optionally restricted.
    pub fn search(
        &self,
        query: &[f32],
        k: usize,
        allowed: Option<&dyn Fn(ImageId) -> bool>,
    ) -> Result<Vec<(ImageId, f32)>> {
        if query.len() != self.dim {
            return Err(CatalogError::Dimension {
                what: "query".into(),
                got: query.len(),
                want: self.dim,
            });
        }
        if self.index.size() == 0 || k == 0 {
            return Ok(Vec::new());
        }
        // usearch allocates its result buffers for `k` up front: never ask for more than the
        // index holds, whatever the caller's page arithmetic came to.
        let k = k.min(self.index.size());
        let matches = search_vector(&self.index, self.quantization, query, k, allowed)
            .map_err(|e| self.err(e))?;
        Ok(matches
            .keys
            .into_iter()
            .zip(matches.distances.into_iter().map(|d| 1.0 - d))
            .collect())
    }

    /// The stored vector, unit length (an i8 vector comes back at its own scale, so it is
    /// normalised here; f16 vectors are unit length already, to rounding).
    pub fn get(&self, id: ImageId) -> Option<Vec<f32>> {
        let mut out = vec![0f32; self.dim];
        match self.index.get(id, &mut out) {
            Ok(n) if n > 0 => {
                let norm = out.iter().map(|x| x * x).sum::<f32>().sqrt();
                if norm > 0.0 {
                    out.iter_mut().for_each(|x| *x /= norm);
                }
                Some(out)
            }
            _ => None,
        }
    }

    /// Saves as `vectors-<generation>.usearch` and points the sidecar at it; removes files older
    /// than the previous generation's.
    pub fn save(&self, dir: &Path, generation: u64) -> Result<()> {
        let file = format!("vectors-{generation}.usearch");
        let path = dir.join(&file);
        self.index
            .save(&path.to_string_lossy())
            .map_err(|e| self.err(e))?;
        std::fs::File::open(&path)
            .and_then(|f| f.sync_all())
            .map_err(CatalogError::io(&path))?;
        let previous = read_sidecar(dir).ok().flatten().map(|s| s.file);
        let sidecar = Sidecar {
            generation,
            file,
            dim: self.dim,
            quantization: self.quantization,
            count: self.len(),
            tuning: self.tuning.clone(),
        };
        crate::fsutil::write_atomic(
            &dir.join(SIDECAR),
            &serde_json::to_vec_pretty(&sidecar).unwrap_or_default(),
        )?;
        // Keep the file the previous sidecar named (a reader may be opening it right now).
        if let Ok(entries) = std::fs::read_dir(dir) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with("vectors-")
                    && name.ends_with(".usearch")
                    && name != sidecar.file
                    && Some(&name) != previous.as_ref()
                {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        Ok(())
    }
}

/// Runs `each` over `items` on all cores (in contiguous chunks), or on this thread when there
/// are too few items to be worth threads; the first error wins, after every thread has ended.
fn on_all_cores<'a, T: Sync>(
    items: &'a [T],
    each: impl Fn(&'a T) -> std::result::Result<(), String> + Sync,
) -> std::result::Result<(), String> {
    map_in_chunks(items, PARALLEL_MIN_CHUNK, each).map(drop)
}

/// `each` of every item, in order, computed on all cores; for items costly enough (an exact
/// scan of the whole index each) that even a few are worth a thread.
fn map_on_all_cores<'a, T: Sync, R: Send>(
    items: &'a [T],
    each: impl Fn(&'a T) -> std::result::Result<R, String> + Sync,
) -> std::result::Result<Vec<R>, String> {
    map_in_chunks(items, 1, each)
}

fn map_in_chunks<'a, T: Sync, R: Send>(
    items: &'a [T],
    min_chunk: usize,
    each: impl Fn(&'a T) -> std::result::Result<R, String> + Sync,
) -> std::result::Result<Vec<R>, String> {
    let threads = threads_for_chunks(items.len(), min_chunk);
    let run = |chunk: &'a [T]| chunk.iter().map(&each).collect::<Result<Vec<R>, String>>();
    if threads == 1 {
        return run(items);
    }
    let chunk = items.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let workers: Vec<_> = items
            .chunks(chunk)
            .map(|c| scope.spawn(move || run(c)))
            .collect();
        // Join every thread before reporting, so none outlives a failed sibling.
        let results: Vec<_> = workers
            .into_iter()
            .map(|w| {
                w.join()
                    .unwrap_or_else(|_| Err("an index thread panicked".into()))
            })
            .collect();
        let mut out = Vec::with_capacity(items.len());
        for part in results {
            out.extend(part?);
        }
        Ok(out)
    })
}

/// Threads [`on_all_cores`] uses for `n` items.
fn threads_for(n: usize) -> usize {
    threads_for_chunks(n, PARALLEL_MIN_CHUNK)
}

fn threads_for_chunks(n: usize, min_chunk: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    cores.min(n / min_chunk.max(1)).max(1)
}

/// How many neighbours a self-search asks for: enough that a few exact duplicates (the same
/// photo at two paths has one embedding) do not hide the image itself.
const SELF_CHECK_K: usize = 8;

/// Whether a search for `v` reaches `id`. When the search returns only exact duplicates of `v`,
/// which of them come first is arbitrary, so that counts as reached too.
fn finds_itself(
    index: &Index,
    quantization: Quantization,
    id: ImageId,
    v: &[f32],
) -> std::result::Result<bool, String> {
    let hits = search_vector(index, quantization, v, SELF_CHECK_K, None)?;
    let all_duplicates = hits.keys.len() == SELF_CHECK_K
        && hits
            .distances
            .last()
            .is_some_and(|&d| d <= DUPLICATE_DISTANCE);
    Ok(hits.keys.contains(&id) || all_duplicates)
}

/// Cosine distance below which two stored vectors are the same embedding (f16/i8 rounding).
const DUPLICATE_DISTANCE: f32 = 1e-3;

/// An embedding as i8, scaled so that its largest component is ±127.
///
/// usearch's own f32 → i8 cast scales by the vector's *length* (×127 / ‖v‖) and truncates: a unit
/// 512-d embedding, whose components are mostly within ±0.1, lands on a few levels around zero
/// (typically ±6). Cosine ignores each vector's scale, so Magpie scales by the largest component
/// instead, rounds, and hands usearch ready-made i8, which it stores as is. On 2,000 random unit
/// 512-d vectors, searched all but exhaustively, recall@10 against exact cosine goes from 0.856
/// (usearch's cast) to 0.992 (`i8_library_ranks_like_exact_cosine` in `tests/library.rs`).
pub(crate) fn to_i8(v: &[f32]) -> Vec<i8> {
    let largest = v.iter().fold(0f32, |m, x| m.max(x.abs()));
    if largest == 0.0 || !largest.is_finite() {
        return vec![0; v.len()];
    }
    let scale = 127.0 / largest;
    v.iter()
        .map(|x| (x * scale).round().clamp(-127.0, 127.0) as i8)
        .collect()
}

fn add_vector(
    index: &Index,
    quantization: Quantization,
    id: ImageId,
    v: &[f32],
) -> std::result::Result<(), String> {
    match quantization {
        Quantization::F16 => index.add(id, v),
        Quantization::I8 => index.add(id, &to_i8(v)),
    }
    .map_err(|e| e.to_string())
}

/// The breadth searches use: the measured one, else the default.
pub(crate) fn expansion_for(tuning: Option<&SearchTuning>) -> usize {
    tuning.map_or(EXPANSION_SEARCH, |t| t.expansion_search)
}

/// The true nearest neighbours among the stored (quantized) vectors, by a scan of all of them.
fn exact_search_vector(
    index: &Index,
    quantization: Quantization,
    query: &[f32],
    k: usize,
) -> std::result::Result<usearch::ffi::Matches, String> {
    match quantization {
        Quantization::F16 => index.exact_search(query, k),
        Quantization::I8 => index.exact_search(&to_i8(query), k),
    }
    .map_err(|e| e.to_string())
}

fn search_vector(
    index: &Index,
    quantization: Quantization,
    query: &[f32],
    k: usize,
    allowed: Option<&dyn Fn(ImageId) -> bool>,
) -> std::result::Result<usearch::ffi::Matches, String> {
    match (quantization, allowed) {
        (Quantization::F16, None) => index.search(query, k),
        (Quantization::F16, Some(f)) => index.filtered_search(query, k, f),
        (Quantization::I8, None) => index.search(&to_i8(query), k),
        (Quantization::I8, Some(f)) => index.filtered_search(&to_i8(query), k, f),
    }
    .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn i8_uses_the_whole_range_and_keeps_the_direction() {
        let v: Vec<f32> = (0..512)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 2000.0)
            .collect();
        let q = to_i8(&v);
        assert_eq!(q.iter().map(|x| x.unsigned_abs()).max(), Some(127));
        let back: Vec<f32> = q.iter().map(|&x| f32::from(x)).collect();
        assert!(crate::reader::cosine(&v, &back) > 0.9999);
        assert_eq!(to_i8(&[0.0; 4]), vec![0; 4]);
    }

    /// A caller's page arithmetic can ask for any count (`offset + limit`, plus `--like` ids):
    /// the index answers with what it holds instead of sizing buffers for the request.
    #[test]
    fn a_search_for_more_than_the_index_holds_returns_what_it_holds() {
        let dir = tempfile::tempdir().unwrap();
        for quantization in [Quantization::F16, Quantization::I8] {
            let mut index = VectorIndex::new(dir.path(), 4, quantization).unwrap();
            let items: Vec<(ImageId, Vec<f32>)> = (1..=3u64)
                .map(|id| (id, vec![1.0, id as f32 / 10.0, 0.0, 0.0]))
                .collect();
            index.upsert_many(&items).unwrap();
            let query = [1.0, 0.0, 0.0, 0.0];
            for k in [4, 1 << 40, usize::MAX] {
                let found = index.search(&query, k, None).unwrap();
                assert_eq!(found.len(), 3, "{quantization:?}, k = {k}");
                let allow_two = |id: ImageId| id != 2;
                let found = index.search(&query, k, Some(&allow_two)).unwrap();
                assert_eq!(found.len(), 2, "{quantization:?}, k = {k}, filtered");
            }
        }
    }
}
