//! Files that appear whole or not at all: each is written to a hidden temporary beside its final
//! name, flushed to disk, then renamed over it. A job killed half-way (Ray preempting a host)
//! leaves the previous file or a stray `.tmp`, never a torn one; the next run overwrites strays.

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::error::ShardError;

/// The temporary `write_atomically` uses for `path`.
pub(crate) fn temporary_for(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp"))
}

/// Writes `path` through `write` (given the temporary file), then renames it into place.
pub(crate) fn write_atomically(
    path: &Path,
    write: impl FnOnce(File, &Path) -> Result<(), ShardError>,
) -> Result<(), ShardError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| ShardError::io(parent, e))?;
    }
    let temporary = temporary_for(path);
    let file = File::create(&temporary).map_err(|e| ShardError::io(&temporary, e))?;
    let written = write(file, &temporary).and_then(|()| {
        // The writer may have consumed the handle; a fresh one flushes the same file.
        File::open(&temporary)
            .and_then(|f| f.sync_all())
            .map_err(|e| ShardError::io(&temporary, e))
    });
    if let Err(e) = written {
        let _ = std::fs::remove_file(&temporary);
        return Err(e);
    }
    std::fs::rename(&temporary, path).map_err(|e| ShardError::io(path, e))
}

/// `write_atomically` for bytes already in memory.
pub(crate) fn write_bytes_atomically(path: &Path, bytes: &[u8]) -> Result<(), ShardError> {
    write_atomically(path, |mut file, temporary| {
        std::io::Write::write_all(&mut file, bytes).map_err(|e| ShardError::io(temporary, e))
    })
}

/// blake3 (hex) and length of a file's content: the indexer's content hash, so a shard file's
/// checksum is computed as a photo's is.
pub(crate) fn file_checksum(path: &Path) -> Result<(String, u64), ShardError> {
    use magpie_indexer::changes::ContentHasher as _;
    let hash = magpie_indexer::changes::Blake3Hasher
        .hash_file(path)
        .map_err(|e| ShardError::io(path, e))?;
    let length = std::fs::metadata(path)
        .map_err(|e| ShardError::io(path, e))?
        .len();
    Ok((hash.to_string(), length))
}
