//! File helpers of the shard writer. Shard files appear whole or not at all, through Magpie's one
//! crash-safe write (`magpie_migrations::atomic`): a job killed half-way (Ray preempting a host)
//! leaves the previous file or a stray temporary, never a torn one; the next run overwrites strays.

use std::fs::File;
use std::path::Path;

use crate::error::ShardError;

/// Writes `path` through `write` (given the temporary file), then renames it into place.
pub(crate) fn write_atomically(
    path: &Path,
    write: impl FnOnce(File, &Path) -> Result<(), ShardError>,
) -> Result<(), ShardError> {
    magpie_migrations::atomic::write_atomically(path, write, |path, e| ShardError::io(path, e))
}

/// `write_atomically` for bytes already in memory.
pub(crate) fn write_bytes_atomically(path: &Path, bytes: &[u8]) -> Result<(), ShardError> {
    magpie_migrations::atomic::write_bytes_atomically(path, bytes, |path, e| {
        ShardError::io(path, e)
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
