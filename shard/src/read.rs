//! Reading a folder of shards back: what the Milvus import (and anything else that consumes
//! `magpie embed-shard`'s output) calls.
//!
//! [`ShardSet::open`] trusts nothing: every manifest is read and its files are checked (sizes,
//! blake3, shapes, row counts), and all shards must agree on the model and the number of
//! dimensions, so a folder that mixes two models or holds a torn file is refused with the file
//! and the reason, before anything is imported.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use magpie_catalog::ThumbKind;

use crate::error::ShardError;
use crate::layout::ShardLayout;
use crate::manifest::ShardManifest;
use crate::npy::read_npy;
use crate::select::shards_for_id;
use crate::table::{read_metadata, ShardRow};

/// The complete, validated shards of one folder.
#[derive(Debug, Clone)]
pub struct ShardSet {
    dir: PathBuf,
    model_key: String,
    dimensions: usize,
    /// N of the shards' `K/N` (all agree).
    shard_count: u32,
    /// Sorted by K.
    shards: Vec<ShardManifest>,
}

impl ShardSet {
    /// Opens DIR, reads and validates every shards/shard_*.json (checksums, counts; all shards
    /// must agree on model key and dims), erroring with the file and reason.
    pub fn open(dir: &Path) -> Result<ShardSet, ShardError> {
        let layout = ShardLayout::new(dir);
        let manifests = layout.manifests();
        let entries = std::fs::read_dir(&manifests).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => ShardError::NoShards {
                dir: dir.to_path_buf(),
            },
            _ => ShardError::io(&manifests, e),
        })?;
        let mut found = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| ShardError::io(&manifests, e))?;
            let name = entry.file_name();
            if let Some(k) = ShardLayout::manifest_shard(&name.to_string_lossy()) {
                found.push((k, entry.path()));
            }
        }
        found.sort();
        let Some((_, first_path)) = found.first().cloned() else {
            return Err(ShardError::NoShards {
                dir: dir.to_path_buf(),
            });
        };
        let mut shards: Vec<ShardManifest> = Vec::with_capacity(found.len());
        for (k, path) in &found {
            let manifest = ShardManifest::load(path)?;
            if manifest.shard != *k {
                return Err(ShardError::invalid(
                    path,
                    format!("describes shard {}, not {k}", manifest.shard),
                ));
            }
            manifest.validate(dir)?;
            if let Some(first) = shards.first() {
                let differs = |what: &str, theirs: String, ours: String| ShardError::Mismatch {
                    path: path.clone(),
                    reason: format!(
                        "{what} {ours} differs from {}'s {theirs}: the folder mixes two runs",
                        first_path.display()
                    ),
                };
                if manifest.model_key != first.model_key {
                    return Err(differs(
                        "model key",
                        first.model_key.clone(),
                        manifest.model_key.clone(),
                    ));
                }
                if manifest.dims != first.dims {
                    return Err(differs(
                        "dimensions",
                        first.dims.to_string(),
                        manifest.dims.to_string(),
                    ));
                }
                if manifest.shards != first.shards {
                    return Err(differs(
                        "shard count",
                        first.shards.to_string(),
                        manifest.shards.to_string(),
                    ));
                }
            }
            shards.push(manifest);
        }
        let first = &shards[0];
        Ok(ShardSet {
            dir: dir.to_path_buf(),
            model_key: first.model_key.clone(),
            dimensions: first.dims,
            shard_count: first.shards,
            shards,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn model_key(&self) -> &str {
        &self.model_key
    }

    pub fn dimensions(&self) -> usize {
        self.dimensions
    }

    /// Sorted by K.
    pub fn shards(&self) -> &[ShardManifest] {
        &self.shards
    }

    /// Total rows.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.rows as usize).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// N of the shards' `K/N`.
    pub fn shard_count(&self) -> u32 {
        self.shard_count
    }

    /// The shards of 0..N without a manifest (not written yet, or being rewritten).
    pub fn missing_shards(&self) -> Vec<u32> {
        (0..self.shard_count)
            .filter(|k| !self.shards.iter().any(|s| s.shard == *k))
            .collect()
    }

    /// Rows of shard K in file order.
    pub fn read_shard(&self, k: u32) -> Result<Vec<ShardRow>, ShardError> {
        let manifest =
            self.shards
                .iter()
                .find(|s| s.shard == k)
                .ok_or_else(|| ShardError::UnknownShard {
                    shard: k,
                    dir: self.dir.clone(),
                })?;
        let layout = ShardLayout::new(&self.dir);
        let npy = layout.embeddings(k);
        let file = File::open(&npy).map_err(|e| ShardError::io(&npy, e))?;
        let (header, values) = read_npy(&mut BufReader::with_capacity(1 << 20, file))
            .map_err(|e| ShardError::invalid(&npy, e))?;
        if header.rows as u64 != manifest.rows || header.dims != manifest.dims {
            return Err(ShardError::invalid(
                &npy,
                format!(
                    "holds {} × {}, but the manifest says {} × {}",
                    header.rows, header.dims, manifest.rows, manifest.dims
                ),
            ));
        }
        let parquet = layout.metadata(k);
        let records = read_metadata(&parquet, manifest.created_at)?;
        if records.len() != header.rows {
            return Err(ShardError::invalid(
                &parquet,
                format!(
                    "{} rows, but {} holds {} embeddings",
                    records.len(),
                    npy.display(),
                    header.rows
                ),
            ));
        }
        let dims = header.dims.max(1);
        Ok(records
            .into_iter()
            .zip(values.chunks_exact(dims))
            .map(|((record, error), embedding)| ShardRow {
                record,
                embedding: embedding.to_vec(),
                error,
            })
            .collect())
    }

    /// The thumbnail file of image `id`. Its shard is one of two (the id is the path hash with
    /// the top bit cleared): the one whose file exists, else the first candidate.
    pub fn thumbnail(&self, id: u64, kind: ThumbKind) -> PathBuf {
        let layout = ShardLayout::new(&self.dir);
        let candidates = shards_for_id(id, self.shard_count);
        candidates
            .iter()
            .map(|k| layout.thumbnail(*k, id, kind))
            .find(|p| p.is_file())
            .unwrap_or_else(|| layout.thumbnail(candidates[0], id, kind))
    }
}
