//! Writing one shard: choose its files, send them through the indexer's pipeline into a sink that
//! keeps the results instead of committing them to a library, and write the shard's files.
//!
//! ```text
//! ShardInput::crawl / ::from_file_list   the files whose shard_of(path, N) == K (and their failures)
//! ShardTarget::freshness                 up to date? (manifest valid, same input and model)
//! ShardTarget::write                     apply_plan → ShardSink → npy, parquet, thumbs, manifest
//! ```
//!
//! The pipeline is the one `magpie index` runs (decode once into model input, thumbnails and
//! metadata; batched embedding; bad files reported and the run goes on); only the sink differs.
//! Replacing a shard touches no other shard's files: the old manifest goes first (the shard is
//! then invisible to readers), the embeddings and metadata are renamed into place, the thumbnail
//! folder is swapped for the one this run filled, and the new manifest comes last.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use magpie_catalog::ThumbKind;
use magpie_indexer::library::image_record;
use magpie_indexer::{
    apply_plan, crawl, Commit, CrawlOptions, FileFailure, FoundFile, ImageEmbedder, IndexError,
    Job, JobKind, PhotoDecoder, PipelineConfig, Plan, Progress, Sink, Summary,
};

use crate::error::ShardError;
use crate::fsutil::{write_atomically, write_bytes_atomically};
use crate::layout::ShardLayout;
use crate::manifest::{ShardFailure, ShardManifest, MANIFEST_FORMAT};
use crate::npy::{write_npy, Dtype};
use crate::select::{image_id, ShardSelection};
use crate::table::{read_metadata, write_metadata, ShardRow};

/// The files of one shard, and the files of that shard the crawl could not even look at.
#[derive(Debug, Clone, Default)]
pub struct ShardInput {
    /// Sorted by path.
    pub files: Vec<FoundFile>,
    pub failures: Vec<FileFailure>,
}

impl ShardInput {
    /// Crawls `roots` exactly as `magpie index` does (the indexer's crawl, the same options) and
    /// keeps shard K's files. Every host crawls everything and keeps its own 1/N: the crawl
    /// reads directory metadata only, so that costs far less than the embedding it divides.
    pub fn crawl(
        roots: &[PathBuf],
        options: &CrawlOptions,
        selection: ShardSelection,
    ) -> Result<Self, ShardError> {
        let found = crawl(roots, options)?;
        let files = found
            .files
            .into_iter()
            .filter(|f| selection.contains(&f.path))
            .collect();
        let failures = found
            .failures
            .into_iter()
            .filter(|f| selection.contains(&f.path))
            .collect();
        Ok(Self::sorted(files, failures))
    }

    /// The files of a list (one path per line, blank lines ignored) that fall in shard K. Paths
    /// are the photos' identity (their id and shard are hashes of it), so they are taken as
    /// written, only made absolute against the current folder when relative; only this shard's
    /// files are looked at on disk, so every host reads the list but stats just its 1/N.
    pub fn from_file_list(list: &Path, selection: ShardSelection) -> Result<Self, ShardError> {
        let bytes = std::fs::read(list).map_err(|e| ShardError::io(list, e))?;
        let cwd = std::env::current_dir().map_err(|e| ShardError::io(".", e))?;
        let paths = bytes
            .split(|b| *b == b'\n')
            .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
            .filter(|line| !line.iter().all(u8::is_ascii_whitespace))
            .map(|line| cwd.join(magpie_catalog::bytes_to_path(line)));
        Ok(Self::from_paths(paths, selection))
    }

    /// [`Self::from_file_list`] for paths already in memory.
    pub fn from_paths(paths: impl IntoIterator<Item = PathBuf>, selection: ShardSelection) -> Self {
        let mut mine: Vec<PathBuf> = paths
            .into_iter()
            .filter(|p| selection.contains(p))
            .collect();
        mine.sort();
        mine.dedup();
        let (mut files, mut failures) = (Vec::new(), Vec::new());
        for path in mine {
            match FoundFile::from_path(&path) {
                Ok(file) if std::fs::metadata(&path).is_ok_and(|m| m.is_file()) => files.push(file),
                Ok(_) => failures.push(FileFailure::new(
                    &path,
                    magpie_indexer::FailureReason::Read("not a file".into()),
                )),
                Err(failure) => failures.push(failure),
            }
        }
        Self::sorted(files, failures)
    }

    fn sorted(mut files: Vec<FoundFile>, mut failures: Vec<FileFailure>) -> Self {
        files.sort_by(|a, b| a.path.cmp(&b.path));
        failures.sort_by(|a, b| a.path.cmp(&b.path));
        Self { files, failures }
    }

    /// Files selected for the shard, including those the crawl could not read.
    pub fn len(&self) -> usize {
        self.files.len() + self.failures.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// blake3 over the sorted (path bytes, size, mtime_ns) of the selected files: when it is
    /// unchanged, so is what the shard would hold (a file edited in place changes its mtime).
    pub fn fingerprint(&self) -> String {
        let mut hasher = blake3::Hasher::new();
        hasher.update(b"magpie-shard-input-v1\0");
        for file in &self.files {
            let path = magpie_catalog::path_to_bytes(&file.path);
            hasher.update(&(path.len() as u64).to_le_bytes());
            hasher.update(&path);
            hasher.update(&file.size.to_le_bytes());
            hasher.update(&file.mtime_ns.to_le_bytes());
        }
        hasher.finalize().to_hex().to_string()
    }
}

/// Where and how one shard is written.
#[derive(Debug, Clone)]
pub struct ShardTarget {
    pub dir: PathBuf,
    pub selection: ShardSelection,
    /// The key the local library records for the model (`magpie_searcher::library::model_key`).
    pub model_key: String,
    pub model_name: String,
    pub dtype: Dtype,
}

/// Whether a shard must be (re)computed.
#[derive(Debug, Clone)]
pub enum Freshness {
    /// Its files are whole and were made from the same input with the same model and dtype.
    UpToDate(Box<ShardManifest>),
    /// It must be computed, and why (no manifest, a file changed, the input changed…).
    Stale(String),
}

/// What writing a shard did.
#[derive(Debug, Clone)]
pub struct ShardReport {
    pub manifest: ShardManifest,
    /// The pipeline's counts (embedded, failed, not images…).
    pub summary: Summary,
}

impl ShardTarget {
    pub fn layout(&self) -> ShardLayout {
        ShardLayout::new(&self.dir)
    }

    /// Creates the folder's subfolders and checks that files can be written there, before any
    /// expensive work (a model load, a crawl) is spent on a shard that could not be saved.
    pub fn prepare_dir(&self) -> Result<(), ShardError> {
        let layout = self.layout();
        for dir in [
            layout.embeddings(0).parent().map(Path::to_path_buf),
            layout.metadata(0).parent().map(Path::to_path_buf),
            Some(layout.manifests()),
            layout.thumbnails(0).parent().map(Path::to_path_buf),
        ]
        .into_iter()
        .flatten()
        {
            std::fs::create_dir_all(&dir).map_err(|e| ShardError::io(&dir, e))?;
        }
        let probe = layout.manifests().join(format!(
            ".write-test-{}-{}",
            self.selection.index,
            std::process::id()
        ));
        std::fs::write(&probe, b"").map_err(|e| ShardError::io(&probe, e))?;
        let _ = std::fs::remove_file(&probe);
        Ok(())
    }

    /// Whether the shard already on disk is what this run would write.
    pub fn freshness(&self, input: &ShardInput) -> Freshness {
        let path = self.layout().manifest(self.selection.index);
        if !path.exists() {
            return Freshness::Stale("not written yet".into());
        }
        let manifest = match ShardManifest::load(&path) {
            Ok(m) => m,
            Err(e) => return Freshness::Stale(e.to_string()),
        };
        if let Some(reason) = self.differences(&manifest, input) {
            return Freshness::Stale(reason);
        }
        if let Err(e) = manifest.validate(&self.dir) {
            return Freshness::Stale(e.to_string());
        }
        if let Err(e) = self.thumbnails_present(&manifest) {
            return Freshness::Stale(e);
        }
        Freshness::UpToDate(Box::new(manifest))
    }

    /// What differs between the recorded shard and this run, cheapest checks first.
    fn differences(&self, manifest: &ShardManifest, input: &ShardInput) -> Option<String> {
        if manifest.shard != self.selection.index || manifest.shards != self.selection.count {
            return Some(format!(
                "it was shard {}/{}, this run is {}",
                manifest.shard, manifest.shards, self.selection
            ));
        }
        if manifest.model_key != self.model_key {
            return Some(format!(
                "it was embedded with model {} ({}), this run uses {} ({})",
                manifest.model_name, manifest.model_key, self.model_name, self.model_key
            ));
        }
        if manifest.dtype != self.dtype {
            return Some(format!(
                "it holds {} embeddings, this run writes {}",
                manifest.dtype, self.dtype
            ));
        }
        if manifest.input_fingerprint != input.fingerprint() {
            return Some("its files changed (added, removed, modified or touched)".into());
        }
        None
    }

    fn thumbnails_present(&self, manifest: &ShardManifest) -> Result<(), String> {
        let layout = self.layout();
        let rows = read_metadata(&layout.metadata(manifest.shard), manifest.created_at)
            .map_err(|e| e.to_string())?;
        for (record, _) in rows {
            for kind in [ThumbKind::Grid, ThumbKind::Preview] {
                let thumb = layout.thumbnail(manifest.shard, record.id, kind);
                if !thumb.is_file() {
                    return Err(format!("{}: missing", thumb.display()));
                }
            }
        }
        Ok(())
    }

    /// Embeds `input` with the pipeline (`decoder`, `embedder`: see
    /// `magpie_indexer::library::model_stages`) and replaces this shard's files. `dims` is the
    /// model's embedding size (an empty shard still records it).
    #[allow(clippy::too_many_arguments)]
    pub fn write<D: PhotoDecoder, E: ImageEmbedder>(
        &self,
        input: ShardInput,
        dims: usize,
        decoder: Arc<D>,
        embedder: Arc<E>,
        config: &PipelineConfig,
        progress: &Arc<Progress>,
        cancel: &Arc<AtomicBool>,
    ) -> Result<ShardReport, ShardError> {
        let k = self.selection.index;
        let layout = self.layout();
        let fingerprint = input.fingerprint();
        let input_files = input.len() as u64;
        let staging = layout.thumbnails_staging(k);
        remove_dir_if_present(&staging)?;
        std::fs::create_dir_all(&staging).map_err(|e| ShardError::io(&staging, e))?;

        let created_at = unix_now();
        let mut sink = ShardSink {
            thumbnails: staging.clone(),
            indexed_at: created_at,
            rows: Vec::new(),
            failures: Vec::new(),
        };
        let plan = Plan {
            jobs: input
                .files
                .into_iter()
                .map(|file| Job {
                    file,
                    kind: JobKind::Add,
                })
                .collect(),
            ..Plan::default()
        };
        let summary = apply_plan(
            plan,
            input.failures,
            decoder,
            embedder,
            &mut sink,
            config,
            progress,
            cancel,
        )
        .map_err(|e| match e {
            // The sink's own error (a thumbnail that could not be written) is the real one.
            IndexError::Commit { source } => match source.downcast::<ShardError>() {
                Ok(shard_error) => *shard_error,
                Err(other) => ShardError::Index(IndexError::Commit { source: other }),
            },
            other => ShardError::Index(other),
        });
        let summary = match summary {
            Ok(s) if s.interrupted => Err(ShardError::Interrupted { shard: k }),
            other => other,
        };
        let summary = match summary {
            Ok(summary) => summary,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&staging);
                return Err(e);
            }
        };

        let ShardSink {
            mut rows,
            mut failures,
            ..
        } = sink;
        // Workers finish in any order; files are in path order, the same on every run.
        rows.sort_by(|a, b| a.record.path.cmp(&b.record.path));
        failures.sort_by(|a, b| a.path.cmp(&b.path));
        if let Some(row) = rows.iter().find(|r| r.embedding.len() != dims) {
            return Err(ShardError::invalid(
                &row.record.path,
                format!("the model gave {} values, not {dims}", row.embedding.len()),
            ));
        }

        // From here on the shard is replaced: first make it invisible.
        let manifest_path = layout.manifest(k);
        remove_file_if_present(&manifest_path)?;
        let npy = layout.embeddings(k);
        write_atomically(&npy, |file, temporary| {
            let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
            write_npy(
                &mut out,
                rows.iter().map(|r| r.embedding.as_slice()),
                dims,
                self.dtype,
            )
            .and_then(|()| std::io::Write::flush(&mut out))
            .map_err(|e| ShardError::io(temporary, e))
        })?;
        let parquet = layout.metadata(k);
        write_atomically(&parquet, |file, temporary| {
            write_metadata(file, temporary, &rows)
        })?;
        self.swap_thumbnails(&staging)?;

        let manifest = ShardManifest {
            format: MANIFEST_FORMAT,
            shard: k,
            shards: self.selection.count,
            model_key: self.model_key.clone(),
            model_name: self.model_name.clone(),
            dims,
            dtype: self.dtype,
            rows: rows.len() as u64,
            embeddings: ShardManifest::file_entry(&npy, ShardLayout::embeddings_name(k))?,
            metadata: ShardManifest::file_entry(&parquet, ShardLayout::metadata_name(k))?,
            input_fingerprint: fingerprint,
            input_files,
            failures: failures.iter().map(ShardFailure::of).collect(),
            created_at,
            writer: format!("magpie-shard {}", env!("CARGO_PKG_VERSION")),
        };
        let json = serde_json::to_vec_pretty(&manifest)
            .map_err(|e| ShardError::invalid(&manifest_path, e.to_string()))?;
        write_bytes_atomically(&manifest_path, &json)?;
        tracing::info!(
            shard = %self.selection,
            rows = manifest.rows,
            failed = manifest.failures.len(),
            dir = %self.dir.display(),
            "shard written"
        );
        Ok(ShardReport { manifest, summary })
    }

    /// Puts this run's thumbnails in place of the shard's old ones (stale thumbnails of files
    /// that left the shard go with the old folder).
    fn swap_thumbnails(&self, staging: &Path) -> Result<(), ShardError> {
        let layout = self.layout();
        let k = self.selection.index;
        let current = layout.thumbnails(k);
        let retired = layout.thumbnails_retired(k);
        remove_dir_if_present(&retired)?;
        if current.exists() {
            std::fs::rename(&current, &retired).map_err(|e| ShardError::io(&current, e))?;
        }
        std::fs::rename(staging, &current).map_err(|e| ShardError::io(&current, e))?;
        remove_dir_if_present(&retired)
    }
}

fn remove_dir_if_present(dir: &Path) -> Result<(), ShardError> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(ShardError::io(dir, e)),
        _ => Ok(()),
    }
}

fn remove_file_if_present(file: &Path) -> Result<(), ShardError> {
    match std::fs::remove_file(file) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(ShardError::io(file, e)),
        _ => Ok(()),
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The pipeline's sink for a shard: thumbnails go straight to the staging folder (so memory
/// holds only records and embeddings), the rest is kept for the files written at the end.
struct ShardSink {
    thumbnails: PathBuf,
    indexed_at: i64,
    rows: Vec<ShardRow>,
    failures: Vec<FileFailure>,
}

impl Sink for ShardSink {
    type Error = ShardError;

    fn commit(&mut self, commit: Commit) -> Result<(), ShardError> {
        for photo in commit.indexed {
            let id = image_id(&photo.file.path);
            for (kind, thumbnail) in [
                (ThumbKind::Grid, &photo.thumbnails.grid),
                (ThumbKind::Preview, &photo.thumbnails.preview),
            ] {
                let path = self.thumbnails.join(ShardLayout::thumbnail_name(id, kind));
                std::fs::write(&path, &thumbnail.jpeg).map_err(|e| ShardError::io(&path, e))?;
            }
            let record = image_record(&photo, id, Vec::new(), self.indexed_at);
            self.rows.push(ShardRow {
                record,
                embedding: photo.embedding,
                error: photo.partial,
            });
        }
        self.failures.extend(commit.failed);
        // A plan of new files has no touches, moves or removals; non-images (`skipped`) are
        // neither rows nor failures, as in a library.
        Ok(())
    }
}
