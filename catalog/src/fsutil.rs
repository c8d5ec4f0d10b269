//! Small file-system helpers for crash safety.

use std::io::Write as _;
use std::path::Path;

use crate::error::{CatalogError, Result};

/// Writes `bytes` to `path` so that a crash leaves either the old or the new content: temp file,
/// fsync, rename, fsync of the directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&tmp).map_err(CatalogError::io(&tmp))?;
    file.write_all(bytes)
        .and_then(|_| file.sync_all())
        .map_err(CatalogError::io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(CatalogError::io(path))?;
    if let Some(dir) = path.parent() {
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// Replaces `path` with `bytes` (temp file + rename, so a reader never sees a torn file) without
/// syncing; the caller makes it durable later with [`sync_files`].
pub fn write_replace(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).map_err(CatalogError::io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(CatalogError::io(path))
}

/// Makes `files` (all below `root`) and their directory entries durable. On Linux one `syncfs`
/// of the file system does it for any number of files; elsewhere each file and folder is synced.
pub fn sync_files(root: &Path, files: &[std::path::PathBuf]) -> Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd as _;
        let dir = std::fs::File::open(root).map_err(CatalogError::io(root))?;
        // SAFETY: `dir` is an open file descriptor for the duration of the call.
        if unsafe { libc::syncfs(dir.as_raw_fd()) } == 0 {
            return Ok(());
        }
        tracing::debug!(
            "syncfs failed ({}); syncing files one by one",
            std::io::Error::last_os_error()
        );
    }
    let mut dirs = std::collections::BTreeSet::new();
    for file in files {
        std::fs::File::open(file)
            .and_then(|f| f.sync_all())
            .map_err(CatalogError::io(file))?;
        if let Some(parent) = file.parent() {
            dirs.insert(parent.to_path_buf());
        }
    }
    for dir in dirs.iter().chain(std::iter::once(&root.to_path_buf())) {
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// Size of everything below `path`, in bytes.
pub fn dir_size(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    std::fs::read_dir(path)
        .map(|entries| entries.flatten().map(|e| dir_size(&e.path())).sum())
        .unwrap_or(0)
}
