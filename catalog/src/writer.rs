//! The one writer of a library.
//!
//! A commit is ordered so that a crash at any point loses nothing committed and shows nothing
//! half-committed:
//! 1. sled (the truth): one atomic `apply_batch` with the records, embeddings, lookups and the
//!    bumped generation, then `flush`;
//! 2. tantivy: the same changes, committed with the generation as payload;
//! 3. usearch: the same changes, saved to a new file, then the sidecar naming it is swapped in.
//!
//! Readers only switch to a generation once tantivy and usearch both reflect it. When the writer
//! opens a library whose derived stores are behind sled (a crash between steps), it rebuilds them
//! from sled before doing anything else.

use std::collections::HashSet;
use std::io::{Read as _, Seek as _, Write as _};

use fs4::fs_std::FileExt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use magpie_migrations::v2 as keys;

use crate::error::{CatalogError, Result};
use crate::fsutil::write_atomic;
use crate::record::{path_to_bytes, Failure, ImageId, ImageRecord, ModelIdentity};
use crate::text::{TextIndex, TextWriter};
use crate::tuning::{SearchTuning, DEFAULT_MAX_BREADTH, TARGET_RECALL};
use crate::vectors::{read_sidecar, Quantization, VectorIndex};
use crate::{LibraryLayout, ThumbKind};

#[derive(Debug, Clone, Default)]
pub struct WriterOptions {
    /// Vector storage for a new library (an existing one keeps its own).
    pub quantization: Quantization,
}

/// One change in a commit.
#[derive(Debug, Clone)]
pub enum Change {
    /// A new or re-embedded image. The id comes from [`Writer::allocate_id`] or an existing record.
    Upsert {
        record: ImageRecord,
        embedding: Vec<f32>,
    },
    /// New metadata (a moved file, a touched mtime, tags) for an image whose vector is unchanged.
    UpdateRecord(ImageRecord),
    Remove(ImageId),
    RecordFailure(Failure),
    ClearFailure(PathBuf),
}

#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    pub ok: bool,
    pub generation: u64,
    pub records: usize,
    pub embeddings: usize,
    pub vectors: usize,
    pub keyword_docs: u64,
    pub problems: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    pub path: PathBuf,
    pub format_version: u32,
    pub generation: u64,
    pub model: Option<ModelIdentity>,
    pub images: u64,
    pub vectors: usize,
    pub failures: usize,
    pub quantization: Quantization,
    /// The HNSW search breadth (ef) searches use.
    pub expansion_search: usize,
    /// How that breadth was measured, when it was (libraries of [`crate::TUNE_MIN_VECTORS`] or
    /// more).
    pub search_tuning: Option<SearchTuning>,
    pub bytes_database: u64,
    pub bytes_vectors: u64,
    pub bytes_keywords: u64,
    pub bytes_thumbnails: u64,
    pub bytes_total: u64,
    /// Images the OCR stage has read.
    pub text_read: u64,
    /// …and those in which it found text.
    pub text_found: u64,
}

/// Vectors inserted at a time by `rebuild_vectors`.
const REBUILD_CHUNK: usize = 50_000;

/// What incremental planning needs of one record: path, size, mtime (ns), content hash, id.
pub type KnownFileRow = (PathBuf, u64, i64, String, ImageId);

pub struct Writer {
    layout: LibraryLayout,
    db: sled::Db,
    text: TextIndex,
    text_writer: TextWriter,
    vectors: VectorIndex,
    model: ModelIdentity,
    generation: u64,
    next_id: u64,
    /// Thumbnails written since the last commit and not yet durable (see [`Writer::commit`]).
    unsynced_thumbnails: std::sync::Mutex<Vec<PathBuf>>,
    _lock: std::fs::File,
}

fn id_key(prefix: &[u8], id: ImageId) -> Vec<u8> {
    [prefix, &id.to_be_bytes()].concat()
}

fn hash_key(hash: &str, id: ImageId) -> Vec<u8> {
    [keys::HASH, hash.as_bytes(), &id.to_be_bytes()].concat()
}

fn to_f16_bytes(v: &[f32]) -> Vec<u8> {
    v.iter()
        .flat_map(|x| half::f16::from_f32(*x).to_le_bytes())
        .collect()
}

fn from_f16_bytes(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(2)
        .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
        .collect()
}

fn read_u64(db: &sled::Db, key: &[u8], path: &Path) -> Result<u64> {
    Ok(db
        .get(key)
        .map_err(CatalogError::sled(path))?
        .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
        .map(u64::from_be_bytes)
        .unwrap_or(0))
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Takes the writer lock, or says who holds it.
fn lock(layout: &LibraryLayout) -> Result<std::fs::File> {
    let path = layout.lock_file();
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(CatalogError::io(&path))?;
    if !FileExt::try_lock_exclusive(&file).unwrap_or(false) {
        let mut holder = String::new();
        let _ = file.read_to_string(&mut holder);
        return Err(CatalogError::Locked {
            path: layout.root.clone(),
            holder: if holder.trim().is_empty() {
                "unknown process".into()
            } else {
                holder.trim().to_string()
            },
        });
    }
    let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    let _ = file.set_len(0);
    let _ = file.rewind();
    let _ = write!(
        file,
        "pid {} on {} since {}",
        std::process::id(),
        host.trim(),
        now()
    );
    let _ = file.sync_all();
    Ok(file)
}

impl Writer {
    /// Opens an existing library for maintenance (verify, rebuild, compact, tagging) with the
    /// model it was built with, as recorded in `model.json`.
    pub fn open_existing(dir: &Path) -> Result<Self> {
        let layout = LibraryLayout::new(dir);
        let path = layout.model_file();
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(CatalogError::NotALibrary { path: layout.root })
            }
            Err(e) => return Err(CatalogError::io(&path)(e)),
        };
        let model: ModelIdentity =
            serde_json::from_slice(&bytes).map_err(|e| CatalogError::Corrupt {
                path: path.clone(),
                reason: format!("model identity: {e}"),
            })?;
        Self::open(dir, &model, &WriterOptions::default())
    }

    /// Opens (creating if needed) the library at `dir` for writing with `model`.
    pub fn open(dir: &Path, model: &ModelIdentity, options: &WriterOptions) -> Result<Self> {
        let layout = LibraryLayout::new(dir);
        std::fs::create_dir_all(&layout.root).map_err(CatalogError::io(&layout.root))?;
        let lock = lock(&layout)?;
        Self::open_locked(layout, model, options, lock)
    }

    /// [`Writer::open`] for a library whose lock this process already holds.
    fn open_locked(
        layout: LibraryLayout,
        model: &ModelIdentity,
        options: &WriterOptions,
        lock: std::fs::File,
    ) -> Result<Self> {
        magpie_migrations::upgrade(&layout.root)?;
        let db_path = layout.db_dir();
        let db = magpie_migrations::open_sled(&db_path).map_err(CatalogError::sled(&db_path))?;
        let stored_model = db.get(keys::MODEL).map_err(CatalogError::sled(&db_path))?;
        match stored_model {
            Some(bytes) => {
                let have: ModelIdentity =
                    serde_json::from_slice(&bytes).map_err(|e| CatalogError::Corrupt {
                        path: db_path.clone(),
                        reason: format!("model identity: {e}"),
                    })?;
                if have.checksum != model.checksum || have.dim != model.dim {
                    return Err(CatalogError::ModelMismatch {
                        path: layout.root.clone(),
                        library_model: have.name,
                        library_dim: have.dim,
                        requested_model: model.name.clone(),
                        requested_dim: model.dim,
                    });
                }
            }
            None => {
                db.insert(keys::MODEL, serde_json::to_vec(model).unwrap_or_default())
                    .map_err(CatalogError::sled(&db_path))?;
                db.flush().map_err(CatalogError::sled(&db_path))?;
            }
        }
        write_atomic(
            &layout.model_file(),
            &serde_json::to_vec_pretty(model).unwrap_or_default(),
        )?;
        let generation = read_u64(&db, keys::GENERATION, &db_path)?;
        let next_id = read_u64(&db, keys::NEXT_ID, &db_path)?.max(1);

        let text = TextIndex::open(&layout.text_dir(), true)?;
        let text_writer = text.writer()?;
        let quantization = read_sidecar(&layout.root)
            .ok()
            .flatten()
            .map_or(options.quantization, |s| s.quantization);
        let vectors = VectorIndex::new(&layout.root, model.dim, quantization)?;
        let mut writer = Self {
            layout,
            db,
            text,
            text_writer,
            vectors,
            model: model.clone(),
            generation,
            next_id,
            unsynced_thumbnails: Default::default(),
            _lock: lock,
        };
        writer.repair()?;
        Ok(writer)
    }

    /// Brings tantivy and usearch up to sled's generation.
    fn repair(&mut self) -> Result<()> {
        let text_generation = self.text.generation().unwrap_or(u64::MAX);
        if text_generation != self.generation {
            tracing::warn!(library = %self.layout.root.display(), sled = self.generation, keywords = text_generation,
                "keyword index is not at the library's generation: rebuilding it from the database");
            self.rebuild_text()?;
        }
        let sidecar = read_sidecar(&self.layout.root).ok().flatten();
        let loaded = match &sidecar {
            Some(s) if s.generation == self.generation && s.dim == self.model.dim => {
                match VectorIndex::open(&self.layout.root, s, false) {
                    Ok(v) => Some(v),
                    Err(e) => {
                        tracing::warn!("{e}: rebuilding the vector index from the database");
                        None
                    }
                }
            }
            Some(s) => {
                tracing::warn!(sled = self.generation, vectors = s.generation,
                    "vector index is not at the library's generation: rebuilding it from the database");
                None
            }
            None if self.generation == 0 => {
                self.vectors.save(&self.layout.root, 0)?;
                return Ok(());
            }
            None => None,
        };
        match loaded {
            Some(v) => self.vectors = v,
            None => self.rebuild_vectors()?,
        }
        Ok(())
    }

    fn db_path(&self) -> PathBuf {
        self.layout.db_dir()
    }

    fn rebuild_text(&mut self) -> Result<()> {
        self.text_writer.delete_all()?;
        let records: Vec<ImageRecord> = self.records().collect::<Result<_>>()?;
        for record in &records {
            self.text_writer.upsert(record)?;
        }
        self.text_writer.commit(self.generation)
    }

    fn rebuild_vectors(&mut self) -> Result<()> {
        let quantization = self.vectors.quantization();
        let mut vectors = VectorIndex::new(&self.layout.root, self.model.dim, quantization)?;
        // In bounded chunks, so a million f32 vectors never sit in memory at once.
        let mut chunk = Vec::with_capacity(REBUILD_CHUNK);
        for item in self.db.scan_prefix(keys::EMBEDDING) {
            let (key, value) = item.map_err(CatalogError::sled(self.db_path()))?;
            let id =
                u64::from_be_bytes(key[keys::EMBEDDING.len()..].try_into().unwrap_or_default());
            chunk.push((id, from_f16_bytes(&value)));
            if chunk.len() == REBUILD_CHUNK {
                vectors.upsert_many(&chunk)?;
                chunk.clear();
            }
        }
        vectors.upsert_many(&chunk)?;
        // A rebuilt graph is a new graph: measure it afresh, with the goal last aimed for.
        let (target, max_breadth) = self.tuning_goal();
        vectors.retune_if_due(self.next_id, target, max_breadth)?;
        vectors.save(&self.layout.root, self.generation)?;
        self.vectors = vectors;
        Ok(())
    }

    /// The recall target and breadth ceiling of the last measurement, else the defaults.
    fn tuning_goal(&self) -> (f64, usize) {
        self.vectors
            .tuning()
            .map_or((TARGET_RECALL, DEFAULT_MAX_BREADTH), |t| {
                (t.target_recall, t.max_expansion_search)
            })
    }

    /// Rebuilds both derived indexes from sled (`magpie library rebuild`).
    pub fn rebuild(&mut self) -> Result<()> {
        self.rebuild_text()?;
        self.rebuild_vectors()
    }

    /// Drops deleted vectors from the HNSW graph by rebuilding it (`magpie library compact`).
    pub fn compact(&mut self) -> Result<()> {
        self.rebuild_vectors()
    }

    pub fn layout(&self) -> &LibraryLayout {
        &self.layout
    }

    /// How the vector index stores vectors (chosen when the library was created).
    pub fn quantization(&self) -> Quantization {
        self.vectors.quantization()
    }

    /// Puts `replacement` — a complete library built beside this one (e.g. re-embedded with
    /// another model into a staging folder) — in this library's place, deletes this library, and
    /// returns the replacement opened at this library's path.
    ///
    /// Neither folder is ever without its writer lock: both locks are held across the swap (a
    /// lock belongs to the open lock file, which moves with its folder), and the returned writer
    /// still holds the replacement's, so the caller decides when other writers may come in. On
    /// Linux the two folders trade places in one atomic `renameat2(RENAME_EXCHANGE)`, so the
    /// library path always names a complete library; elsewhere (or on a file system without it)
    /// this library is renamed aside first, and a crash between the two renames leaves it at
    /// `<name>.replaced`, named in the error of the second rename.
    pub fn replace_with(self, replacement: Writer) -> Result<Writer> {
        let library = self.layout.root.clone();
        let staging = replacement.layout.root.clone();
        let model = replacement.model.clone();
        let options = WriterOptions {
            quantization: replacement.quantization(),
        };
        let old_lock = self.close()?;
        let new_lock = replacement.close()?;
        crate::fsutil::exchange_dirs(&library, &staging)?;
        // The old library now lives at the staging path, still locked by `old_lock`.
        if let Err(e) = std::fs::remove_dir_all(&staging) {
            tracing::warn!(
                "the replaced library is left at {}: cannot remove it ({e})",
                staging.display()
            );
        }
        drop(old_lock);
        Self::open_locked(LibraryLayout::new(&library), &model, &options, new_lock)
    }

    /// Makes everything durable, closes the stores and keeps only the writer lock.
    fn close(self) -> Result<std::fs::File> {
        self.sync_thumbnails()?;
        self.flush()?;
        let Writer { _lock, .. } = self;
        Ok(_lock)
    }

    pub fn model(&self) -> &ModelIdentity {
        &self.model
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// A fresh id for a new image (persisted by the next commit).
    pub fn allocate_id(&mut self) -> ImageId {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    pub fn record(&self, id: ImageId) -> Result<Option<ImageRecord>> {
        let Some(bytes) = self
            .db
            .get(id_key(keys::RECORD, id))
            .map_err(CatalogError::sled(self.db_path()))?
        else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| CatalogError::Corrupt {
                path: self.db_path(),
                reason: format!("record {id}: {e}"),
            })
    }

    pub fn id_for_path(&self, path: &Path) -> Result<Option<ImageId>> {
        let key = [keys::PATH, &path_to_bytes(path)].concat();
        Ok(self
            .db
            .get(key)
            .map_err(CatalogError::sled(self.db_path()))?
            .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
            .map(u64::from_be_bytes))
    }

    pub fn ids_for_hash(&self, hash: &str) -> Result<Vec<ImageId>> {
        let prefix = [keys::HASH, hash.as_bytes()].concat();
        let mut out = Vec::new();
        for item in self.db.scan_prefix(&prefix) {
            let (key, _) = item.map_err(CatalogError::sled(self.db_path()))?;
            if key.len() == prefix.len() + 8 {
                out.push(u64::from_be_bytes(
                    key[prefix.len()..].try_into().unwrap_or_default(),
                ));
            }
        }
        Ok(out)
    }

    /// Every record, in id order.
    pub fn records(&self) -> impl Iterator<Item = Result<ImageRecord>> + '_ {
        let path = self.db_path();
        self.db.scan_prefix(keys::RECORD).map(move |item| {
            let (_, value) = item.map_err(CatalogError::sled(&path))?;
            serde_json::from_slice(&value).map_err(|e| CatalogError::Corrupt {
                path: path.clone(),
                reason: e.to_string(),
            })
        })
    }

    pub fn embedding(&self, id: ImageId) -> Result<Option<Vec<f32>>> {
        Ok(self
            .db
            .get(id_key(keys::EMBEDDING, id))
            .map_err(CatalogError::sled(self.db_path()))?
            .map(|b| from_f16_bytes(&b)))
    }

    pub fn failures(&self) -> Result<Vec<Failure>> {
        let mut out = Vec::new();
        for item in self.db.scan_prefix(keys::FAILURE) {
            let (_, value) = item.map_err(CatalogError::sled(self.db_path()))?;
            if let Ok(f) = serde_json::from_slice(&value) {
                out.push(f);
            }
        }
        Ok(out)
    }

    /// Stores a thumbnail, addressed by content hash so a moved file keeps its thumbnails.
    /// Stores a thumbnail. It is made durable by the next [`Writer::commit`], with all the others
    /// of that commit in one go: a sync per file was four fsyncs per photo on the commit thread,
    /// which capped indexing at ~80 photos/s on an ordinary disk.
    pub fn put_thumbnail(&self, content_hash: &str, kind: ThumbKind, bytes: &[u8]) -> Result<()> {
        let path = self.layout.thumbnail(content_hash, kind);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(CatalogError::io(parent))?;
        }
        crate::fsutil::write_replace(&path, bytes)?;
        if let Ok(mut pending) = self.unsynced_thumbnails.lock() {
            pending.push(path);
        }
        Ok(())
    }

    /// Thumbnails must be on disk before sled records point at them.
    fn sync_thumbnails(&self) -> Result<()> {
        let pending = match self.unsynced_thumbnails.lock() {
            Ok(mut p) => std::mem::take(&mut *p),
            Err(_) => return Ok(()),
        };
        if pending.is_empty() {
            return Ok(());
        }
        crate::fsutil::sync_files(&self.layout.thumbs_dir(), &pending)
    }

    pub fn cache_get(&self, namespace: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let k = [keys::CACHE, namespace.as_bytes(), b"/", key].concat();
        Ok(self
            .db
            .get(k)
            .map_err(CatalogError::sled(self.db_path()))?
            .map(|v| v.to_vec()))
    }

    pub fn cache_put(&self, namespace: &str, key: &[u8], value: &[u8]) -> Result<()> {
        let k = [keys::CACHE, namespace.as_bytes(), b"/", key].concat();
        self.db
            .insert(k, value)
            .map_err(CatalogError::sled(self.db_path()))?;
        Ok(())
    }

    /// Applies `changes` atomically to all three stores; returns the new generation.
    pub fn commit(&mut self, changes: Vec<Change>) -> Result<u64> {
        self.sync_thumbnails()?;
        if changes.is_empty() {
            return Ok(self.generation);
        }
        self.write_generation(changes)
    }

    /// Measures the search breadth, at most `max_breadth`, the library's vectors need for
    /// recall@10 ≥ `target` now, whatever its size since the last measurement (`magpie library
    /// tune`), and commits it as a new generation so that readers switch to it. A commit
    /// re-measures on its own when the library has doubled or halved since (see
    /// `crate::tuning`), with the same target and ceiling.
    pub fn tune_search(&mut self, target: f64, max_breadth: usize) -> Result<Option<SearchTuning>> {
        let tuning = self.vectors.tune(self.next_id, target, max_breadth)?;
        self.write_generation(Vec::new())?;
        Ok(tuning)
    }

    fn write_generation(&mut self, changes: Vec<Change>) -> Result<u64> {
        let db_path = self.db_path();
        let generation = self.generation + 1;
        let mut batch = sled::Batch::default();
        let mut text_ops: Vec<Result<ImageRecord, ImageId>> = Vec::new();
        let mut vector_ops: Vec<(ImageId, Option<Vec<f32>>)> = Vec::new();
        let mut failures_changed = false;
        // Later changes in one commit see earlier ones (e.g. remove A, then move B onto A's path).
        let mut pending: std::collections::HashMap<ImageId, Option<ImageRecord>> =
            Default::default();

        for change in changes {
            match change {
                Change::Upsert { record, embedding } => {
                    if embedding.len() != self.model.dim {
                        return Err(CatalogError::Dimension {
                            what: record.path.display().to_string(),
                            got: embedding.len(),
                            want: self.model.dim,
                        });
                    }
                    let old = match pending.get(&record.id) {
                        Some(r) => r.clone(),
                        None => self.record(record.id)?,
                    };
                    self.stage_record(&mut batch, old.as_ref(), &record);
                    batch.insert(id_key(keys::EMBEDDING, record.id), to_f16_bytes(&embedding));
                    batch.remove([keys::FAILURE, &path_to_bytes(&record.path)].concat());
                    vector_ops.push((record.id, Some(embedding)));
                    pending.insert(record.id, Some(record.clone()));
                    text_ops.push(Ok(record));
                }
                Change::UpdateRecord(record) => {
                    let old = match pending.get(&record.id) {
                        Some(r) => r.clone(),
                        None => self.record(record.id)?,
                    };
                    if old.is_none() {
                        return Err(CatalogError::Corrupt {
                            path: db_path.clone(),
                            reason: format!("update of unknown image {}", record.id),
                        });
                    }
                    self.stage_record(&mut batch, old.as_ref(), &record);
                    pending.insert(record.id, Some(record.clone()));
                    text_ops.push(Ok(record));
                }
                Change::Remove(id) => {
                    let old = match pending.get(&id) {
                        Some(r) => r.clone(),
                        None => self.record(id)?,
                    };
                    if let Some(old) = old {
                        batch.remove([keys::PATH, &path_to_bytes(&old.path)].concat());
                        batch.remove(hash_key(&old.content_hash, id));
                    }
                    batch.remove(id_key(keys::RECORD, id));
                    batch.remove(id_key(keys::EMBEDDING, id));
                    pending.insert(id, None);
                    vector_ops.push((id, None));
                    text_ops.push(Err(id));
                }
                Change::RecordFailure(failure) => {
                    let key = [keys::FAILURE, &path_to_bytes(&failure.path)].concat();
                    batch.insert(key, serde_json::to_vec(&failure).unwrap_or_default());
                    failures_changed = true;
                }
                Change::ClearFailure(path) => {
                    batch.remove([keys::FAILURE, &path_to_bytes(&path)].concat());
                    failures_changed = true;
                }
            }
        }
        batch.insert(keys::GENERATION, &generation.to_be_bytes());
        batch.insert(keys::NEXT_ID, &self.next_id.to_be_bytes());
        self.db
            .apply_batch(batch)
            .map_err(CatalogError::sled(&db_path))?;
        self.db.flush().map_err(CatalogError::sled(&db_path))?;
        self.generation = generation;

        for op in text_ops {
            match op {
                Ok(record) => self.text_writer.upsert(&record)?,
                Err(id) => self.text_writer.delete(id),
            }
        }
        self.text_writer.commit(generation)?;

        // Only each image's last operation in this commit matters; upserts then go in parallel.
        let mut last: std::collections::HashMap<ImageId, Option<Vec<f32>>> = Default::default();
        for (id, vector) in vector_ops {
            last.insert(id, vector);
        }
        let mut upserts = Vec::with_capacity(last.len());
        for (id, vector) in last {
            match vector {
                Some(v) => upserts.push((id, v)),
                None => self.vectors.remove(id)?,
            }
        }
        upserts.sort_unstable_by_key(|(id, _)| *id);
        self.vectors.upsert_many(&upserts)?;
        let (target, max_breadth) = self.tuning_goal();
        self.vectors
            .retune_if_due(self.next_id, target, max_breadth)?;
        self.vectors.save(&self.layout.root, generation)?;
        if failures_changed {
            let failures = self.failures()?;
            write_atomic(
                &self.layout.failures_file(),
                &serde_json::to_vec(&failures).unwrap_or_default(),
            )?;
        }
        Ok(generation)
    }

    fn stage_record(
        &self,
        batch: &mut sled::Batch,
        old: Option<&ImageRecord>,
        record: &ImageRecord,
    ) {
        if let Some(old) = old {
            if old.path != record.path {
                batch.remove([keys::PATH, &path_to_bytes(&old.path)].concat());
            }
            if old.content_hash != record.content_hash {
                batch.remove(hash_key(&old.content_hash, old.id));
            }
        }
        batch.insert(
            id_key(keys::RECORD, record.id),
            serde_json::to_vec(record).unwrap_or_default(),
        );
        batch.insert(
            [keys::PATH, &path_to_bytes(&record.path)].concat(),
            &record.id.to_be_bytes(),
        );
        batch.insert(hash_key(&record.content_hash, record.id), &[][..]);
    }

    /// Checks that sled, tantivy and usearch agree on which images exist.
    pub fn verify(&self) -> Result<VerifyReport> {
        let mut problems = Vec::new();
        let mut ids = HashSet::new();
        for record in self.records() {
            match record {
                Ok(r) => {
                    if !ids.insert(r.id) {
                        problems.push(format!("image {} is recorded twice", r.id));
                    }
                    match self.id_for_path(&r.path)? {
                        Some(id) if id == r.id => {}
                        other => problems.push(format!(
                            "path lookup of {} gives {other:?}, not {}",
                            r.path.display(),
                            r.id
                        )),
                    }
                    if !self.vectors.contains(r.id) {
                        problems.push(format!(
                            "image {} ({}) has no vector",
                            r.id,
                            r.path.display()
                        ));
                    }
                }
                Err(e) => problems.push(e.to_string()),
            }
        }
        let embeddings = self.db.scan_prefix(keys::EMBEDDING).count();
        if embeddings != ids.len() {
            problems.push(format!(
                "{} records but {embeddings} stored embeddings",
                ids.len()
            ));
        }
        let paths = self.db.scan_prefix(keys::PATH).count();
        if paths != ids.len() {
            problems.push(format!("{} records but {paths} path entries", ids.len()));
        }
        if self.vectors.len() != ids.len() {
            problems.push(format!(
                "{} records but {} vectors",
                ids.len(),
                self.vectors.len()
            ));
        }
        let reader = self.text.reader()?;
        reader
            .reload()
            .map_err(CatalogError::text(self.text.dir()))?;
        let snapshot = crate::text::TextSnapshot {
            searcher: reader.searcher(),
            fields: self.text.fields(),
            index: tantivy::Index::open_in_dir(self.text.dir())
                .map_err(CatalogError::text(self.text.dir()))?,
        };
        let keyword_docs = snapshot.len();
        let text_ids: HashSet<ImageId> = snapshot.all().into_iter().map(|r| r.id).collect();
        if text_ids != ids {
            let missing = ids.difference(&text_ids).count();
            let extra = text_ids.difference(&ids).count();
            problems.push(format!(
                "keyword index: {missing} images missing, {extra} unknown"
            ));
        }
        if self.text.generation()? != self.generation {
            problems.push(format!(
                "keyword index at generation {}, library at {}",
                self.text.generation()?,
                self.generation
            ));
        }
        Ok(VerifyReport {
            ok: problems.is_empty(),
            generation: self.generation,
            records: ids.len(),
            embeddings,
            vectors: self.vectors.len(),
            keyword_docs,
            problems,
        })
    }

    pub fn stats(&self) -> Result<Stats> {
        Ok(crate::stats_for(
            &self.layout,
            Some(self.model.clone()),
            self.generation,
            self.db.scan_prefix(keys::RECORD).count() as u64,
            self.vectors.len(),
            self.failures()?.len(),
            self.text_counts()?,
        ))
    }

    /// How many images OCR has read, and in how many it found text.
    /// Counted by the keyword index (committed with every change), as readers count them,
    /// rather than by decoding every record in sled.
    pub fn text_counts(&self) -> Result<(u64, u64)> {
        Ok(self.text.snapshot()?.text_counts())
    }

    /// Every stored record path (with size, mtime and hash) for incremental planning.
    pub fn known_files(&self) -> Result<Vec<KnownFileRow>> {
        let mut out = Vec::new();
        for record in self.records() {
            let r = record?;
            out.push((r.path, r.size, r.mtime_ns, r.content_hash, r.id));
        }
        Ok(out)
    }

    /// Stored failures keyed by path, for skipping unchanged bad files.
    pub fn failure_paths(&self) -> Result<Vec<Failure>> {
        self.failures()
    }

    pub fn flush(&self) -> Result<()> {
        self.db
            .flush()
            .map_err(CatalogError::sled(self.db_path()))?;
        Ok(())
    }
}
