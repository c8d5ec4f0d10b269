//! The one crash-safe file write of Magpie: a file appears whole or not at all. It is written to a
//! hidden temporary beside its final name (`.NAME.tmp`), flushed to disk, renamed over the final
//! name, and the folder is flushed, so a crash or a killed job leaves the previous content (and
//! perhaps a stray temporary, which the next write overwrites), never a torn file.
//!
//! It lives in this crate, the lowest of the library's, so that the format version
//! ([`crate::write_version`]), the catalog's files and the shard files of `magpie embed-shard`
//! share it.

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// The temporary [`write_atomically`] writes `path` through.
pub fn temporary_for(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp"))
}

/// Writes `path` through `write`, which is given the temporary file (and its path, for its own
/// errors); then flushes, renames and flushes the folder. Missing parent folders are created. On
/// an error the temporary is removed and `path` is untouched. `io_error` turns a failure of these
/// steps into the caller's error type, with the path it concerns.
pub fn write_atomically<E>(
    path: &Path,
    write: impl FnOnce(File, &Path) -> Result<(), E>,
    io_error: impl Fn(&Path, std::io::Error) -> E,
) -> Result<(), E> {
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(parent) = parent {
        std::fs::create_dir_all(parent).map_err(|e| io_error(parent, e))?;
    }
    let temporary = temporary_for(path);
    let file = File::create(&temporary).map_err(|e| io_error(&temporary, e))?;
    let written = write(file, &temporary).and_then(|()| {
        // The writer may have consumed the handle; a fresh one flushes the same file.
        File::open(&temporary)
            .and_then(|f| f.sync_all())
            .map_err(|e| io_error(&temporary, e))
    });
    if let Err(e) = written {
        let _ = std::fs::remove_file(&temporary);
        return Err(e);
    }
    std::fs::rename(&temporary, path).map_err(|e| io_error(path, e))?;
    if let Some(parent) = parent {
        // Makes the rename durable; a folder that cannot be opened (some platforms) is no error.
        if let Ok(folder) = File::open(parent) {
            let _ = folder.sync_all();
        }
    }
    Ok(())
}

/// [`write_atomically`] for bytes already in memory.
pub fn write_bytes_atomically<E>(
    path: &Path,
    bytes: &[u8],
    io_error: impl Fn(&Path, std::io::Error) -> E,
) -> Result<(), E> {
    write_atomically(
        path,
        |mut file, temporary| file.write_all(bytes).map_err(|e| io_error(temporary, e)),
        &io_error,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/settings.json");
        write_bytes_atomically(&path, b"old", |_, e| e).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        let failed: Result<(), std::io::Error> = write_atomically(
            &path,
            |mut file, _| {
                file.write_all(b"half")?;
                Err(std::io::Error::other("disk full"))
            },
            |_, e| e,
        );
        assert!(failed.is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert!(!temporary_for(&path).exists());
        write_bytes_atomically(&path, b"new", |_, e| e).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
    }
}
