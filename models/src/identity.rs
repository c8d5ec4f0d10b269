//! Model checksums, cached beside the weights.
//!
//! The catalog records which model built a library by a digest of both towers' weights. Hashing
//! 600 MB on every start would add seconds to every search, so the digest is cached in a sidecar
//! file keyed by each file's size and modification time; any change to either re-hashes. A
//! read-only model directory simply hashes every time.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model_dir::ModelSpec;

/// Name of the sidecar cache in the model directory.
pub const CHECKSUM_SIDECAR: &str = ".magpie-checksum.json";

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct FileStamp {
    path: String,
    size: u64,
    modified_ns: u128,
}

#[derive(Debug, Serialize, Deserialize)]
struct Sidecar {
    files: Vec<FileStamp>,
    blake3: String,
}

fn stamp(path: &Path) -> Result<FileStamp> {
    let metadata = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    let modified_ns = metadata
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    Ok(FileStamp {
        path: path.display().to_string(),
        size: metadata.len(),
        modified_ns,
    })
}

/// Hex BLAKE3 over the weight files of both towers (in order, each prefixed by its length so
/// that moving bytes between files changes the digest).
pub fn weights_checksum(spec: &ModelSpec) -> Result<String> {
    let files: Vec<PathBuf> = spec.weight_files();
    let stamps = files.iter().map(|f| stamp(f)).collect::<Result<Vec<_>>>()?;
    let sidecar_path = spec.dir.join(CHECKSUM_SIDECAR);
    if let Ok(text) = std::fs::read_to_string(&sidecar_path) {
        if let Ok(sidecar) = serde_json::from_str::<Sidecar>(&text) {
            if sidecar.files == stamps {
                return Ok(sidecar.blake3);
            }
        }
    }
    let mut hasher = blake3::Hasher::new();
    let mut buffer = vec![0u8; 1 << 20];
    for (file, file_stamp) in files.iter().zip(&stamps) {
        hasher.update(&file_stamp.size.to_le_bytes());
        let mut reader = std::fs::File::open(file).map_err(|e| Error::io(file, e))?;
        loop {
            let read = reader.read(&mut buffer).map_err(|e| Error::io(file, e))?;
            if read == 0 {
                break;
            }
            hasher.update(&buffer[..read]);
        }
    }
    let digest = hasher.finalize().to_hex().to_string();
    let sidecar = Sidecar {
        files: stamps,
        blake3: digest.clone(),
    };
    if let Ok(text) = serde_json::to_string_pretty(&sidecar) {
        // Best effort: a read-only directory just means hashing again next time.
        let temporary = spec.dir.join(format!("{CHECKSUM_SIDECAR}.tmp"));
        if std::fs::write(&temporary, text)
            .and_then(|()| std::fs::rename(&temporary, &sidecar_path))
            .is_err()
        {
            let _ = std::fs::remove_file(&temporary);
            tracing::debug!(dir = %spec.dir.display(), "model directory not writable; checksum not cached");
        }
    }
    Ok(digest)
}
