//! Small file-system helpers: crash-safe writes, sizes, and giving mapped pages back.

use std::path::Path;

use crate::error::{CatalogError, Result};

/// Writes `bytes` to `path` so that a crash leaves either the old or the new content (the one
/// crash-safe write, `magpie_migrations::atomic`).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    magpie_migrations::atomic::write_bytes_atomically(path, bytes, |path, e| {
        CatalogError::io(path)(e)
    })
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

/// Makes the folders `a` and `b` trade places. On Linux this is one atomic
/// `renameat2(RENAME_EXCHANGE)`: at every moment each path names one complete folder. Where that
/// is not available (another system, a file system without it), `a` is renamed to
/// `<a>.replaced`, `b` to `a`, and `<a>.replaced` to `b`, which leaves `a` missing for a moment.
pub fn exchange_dirs(a: &Path, b: &Path) -> Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::ffi::OsStrExt as _;
        let c_path = |p: &Path| {
            std::ffi::CString::new(p.as_os_str().as_bytes()).map_err(|_| CatalogError::Io {
                path: p.to_path_buf(),
                source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "NUL in path"),
            })
        };
        let (ca, cb) = (c_path(a)?, c_path(b)?);
        // SAFETY: two valid NUL-terminated paths, relative to the working directory; the call
        // only renames.
        let done = unsafe {
            libc::syscall(
                libc::SYS_renameat2,
                libc::AT_FDCWD,
                ca.as_ptr(),
                libc::AT_FDCWD,
                cb.as_ptr(),
                libc::RENAME_EXCHANGE,
            )
        };
        if done == 0 {
            sync_parent(a);
            return Ok(());
        }
        let error = std::io::Error::last_os_error();
        match error.raw_os_error() {
            // Not supported by this kernel or file system: rename in three steps below.
            Some(libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP) => {
                tracing::debug!(
                    "renameat2(RENAME_EXCHANGE) unavailable ({error}); renaming in steps"
                )
            }
            _ => return Err(CatalogError::io(a)(error)),
        }
    }
    let mut aside = a.as_os_str().to_owned();
    aside.push(".replaced");
    let aside = std::path::PathBuf::from(aside);
    std::fs::rename(a, &aside).map_err(CatalogError::io(a))?;
    std::fs::rename(b, a).map_err(|source| CatalogError::Io {
        path: a.to_path_buf(),
        source: std::io::Error::new(
            source.kind(),
            format!(
                "cannot move {} into place ({source}); the previous library is at {}",
                b.display(),
                aside.display()
            ),
        ),
    })?;
    std::fs::rename(&aside, b).map_err(CatalogError::io(&aside))?;
    sync_parent(a);
    Ok(())
}

/// Makes a rename in `path`'s folder durable (best effort).
fn sync_parent(path: &Path) {
    if let Some(dir) = path.parent() {
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
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

/// Drops the pages of memory-mapped files named `file_names` from this process's resident set
/// (Linux; elsewhere nothing happens). The data stays in the page cache, and a later access maps
/// it back without I/O: this only keeps a one-off pass over a large file (every stored record)
/// from counting, for the life of a server, as memory the server uses.
///
/// Only read-only mappings are touched ([`is_read_only_file_mapping`]). `MADV_DONTNEED` on a
/// writable *private* mapping would throw away the process's own modified copy-on-write pages —
/// the next read would see the file's bytes instead of what was written — so any mapping with
/// write permission is left alone, whatever its name.
///
/// Why the mappings stay alive during the call: the one caller (`TextSnapshot::for_each`) passes
/// the `.store` files of the tantivy searcher it is borrowing for the whole call. That searcher's
/// segment readers own the `Mmap`s of those files (tantivy's `MmapDirectory` keeps one mapping per
/// file and hands it out by reference count), so none of them can be unmapped — and its address
/// range reused for another mapping, which `MADV_DONTNEED` could then wrongly discard — between
/// reading `/proc/self/maps` and the `madvise` calls. Segment file names are random UUIDs, so
/// another mapping of the same name is the same immutable segment file, mapped read-only by
/// another reader of the same library.
pub fn release_mapped_pages(file_names: &std::collections::HashSet<String>) {
    #[cfg(target_os = "linux")]
    {
        let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else {
            return;
        };
        for line in maps.lines() {
            let Some(mapping) = parse_maps_line(line) else {
                continue;
            };
            let named = Path::new(mapping.path)
                .file_name()
                .is_some_and(|n| file_names.contains(n.to_string_lossy().as_ref()));
            if !named || !is_read_only_file_mapping(mapping.perms) {
                continue;
            }
            // SAFETY: the range is one whole, page-aligned mapping, as the kernel listed it, of
            // an immutable segment file that this process mapped without write permission and
            // that stays mapped for the duration of the call (see above); MADV_DONTNEED on such
            // a mapping only drops its pages from this process, and the next access reads the
            // same bytes back from the page cache.
            unsafe {
                libc::madvise(
                    mapping.start as *mut libc::c_void,
                    mapping.end - mapping.start,
                    libc::MADV_DONTNEED,
                );
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = file_names;
}

/// One line of `/proc/self/maps`: `start-end perms offset dev inode path`.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
struct MapsLine<'a> {
    start: usize,
    end: usize,
    perms: &'a str,
    path: &'a str,
}

#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn parse_maps_line(line: &str) -> Option<MapsLine<'_>> {
    let mut fields = line.split_whitespace();
    let range = fields.next()?;
    let perms = fields.next()?;
    let path = fields.nth(3)?;
    let (start, end) = range.split_once('-')?;
    let start = usize::from_str_radix(start, 16).ok()?;
    let end = usize::from_str_radix(end, 16).ok()?;
    (end > start).then_some(MapsLine {
        start,
        end,
        perms,
        path,
    })
}

/// `r--s` / `r--p` / `r-xp`…: readable and not writable. Pages of such a mapping are exactly the
/// file's bytes, so dropping them loses nothing.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn is_read_only_file_mapping(perms: &str) -> bool {
    let mut flags = perms.chars();
    flags.next() == Some('r') && flags.next() == Some('-')
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn maps_lines_and_permissions() {
        let line = "7f0000000000-7f0000002000 r--s 00000000 fd:01 1234  /lib/x/0a1b.store";
        let m = parse_maps_line(line).unwrap();
        assert_eq!((m.start, m.end), (0x7f00_0000_0000, 0x7f00_0000_2000));
        assert_eq!((m.perms, m.path), ("r--s", "/lib/x/0a1b.store"));
        assert!(parse_maps_line("7f00-7f10 rw-p 00000000 00:00 0").is_none());
        assert!(is_read_only_file_mapping("r--s"));
        assert!(is_read_only_file_mapping("r-xp"));
        assert!(!is_read_only_file_mapping("rw-p"));
        assert!(!is_read_only_file_mapping("rw-s"));
        assert!(!is_read_only_file_mapping("---p"));
    }

    /// A writable private mapping of a file with the name asked for keeps what was written to
    /// it: `MADV_DONTNEED` would have reverted its pages to the file's bytes.
    #[test]
    fn writable_mappings_keep_their_writes() {
        use std::os::fd::AsRawFd as _;
        let dir = tempfile::tempdir().unwrap();
        let name = "0123456789abcdef.store";
        let path = dir.path().join(name);
        let page = 4096;
        std::fs::write(&path, vec![b'a'; page]).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        // SAFETY: a fresh private mapping of a file we own, unmapped below.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                page,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE,
                file.as_raw_fd(),
                0,
            )
        };
        assert_ne!(ptr, libc::MAP_FAILED);
        // SAFETY: `ptr` is a live mapping of `page` writable bytes.
        let bytes = unsafe { std::slice::from_raw_parts_mut(ptr.cast::<u8>(), page) };
        bytes[0] = b'z';
        release_mapped_pages(&[name.to_string()].into_iter().collect());
        let kept = bytes[0];
        // SAFETY: unmapping the mapping made above; `bytes` is not used afterwards.
        unsafe { libc::munmap(ptr, page) };
        assert_eq!(kept, b'z', "the private page was discarded");
    }
}
