//! The serving host's half of the Milvus backend: the shards' records in a local
//! [`KeywordIndex`], for the keyword ranking (BM25 over names, paths and EXIF, which Milvus does
//! not do), the filter decisions of small sets, and each hit's record. Built once per set of
//! shard manifests and reused while they are unchanged.

use std::path::{Path, PathBuf};

use magpie_catalog::KeywordIndex;
use magpie_shard::ShardSet;

use crate::error::MilvusError;

/// The keyword index of `sets` in `dir`, rebuilt when the shards changed since it was built.
pub fn keyword_index(sets: &[ShardSet], dir: &Path) -> Result<KeywordIndex, MilvusError> {
    let stamp = stamp(sets)?;
    let failed = |e: magpie_catalog::CatalogError| MilvusError::Keywords {
        dir: dir.to_path_buf(),
        reason: e.to_string(),
    };
    if let Some(index) = KeywordIndex::open_if_current(dir, &stamp).map_err(failed)? {
        return Ok(index);
    }
    tracing::info!(dir = %dir.display(), "building the keyword index of the shards");
    let mut records = Vec::new();
    for set in sets {
        for manifest in set.shards() {
            for row in set.read_shard(manifest.shard)? {
                records.push(row.record);
            }
        }
    }
    KeywordIndex::build(dir, &stamp, records).map_err(failed)
}

/// Where a backend keeps its keyword index unless told: beside the first shard folder's files.
pub fn default_dir(sets: &[ShardSet], collection: &str) -> PathBuf {
    let base = sets
        .first()
        .map(|s| s.dir().to_path_buf())
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("keywords").join(collection)
}

/// What the index is built from: every shard manifest's bytes (they hold the files' checksums),
/// in order.
fn stamp(sets: &[ShardSet]) -> Result<String, MilvusError> {
    let mut hasher = blake3::Hasher::new();
    for set in sets {
        let manifests = set.dir().join("shards");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&manifests)
            .map_err(|e| MilvusError::Keywords {
                dir: manifests.clone(),
                reason: e.to_string(),
            })?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        hasher.update(set.dir().as_os_str().as_encoded_bytes());
        for file in files {
            let bytes = std::fs::read(&file).map_err(|e| MilvusError::Keywords {
                dir: file.clone(),
                reason: e.to_string(),
            })?;
            hasher.update(&(bytes.len() as u64).to_le_bytes());
            hasher.update(&bytes);
        }
    }
    Ok(hasher.finalize().to_hex().to_string())
}
