//! Walking the roots: which files exist, how big they are and when they changed — from directory
//! metadata only, never reading a byte of content.
//!
//! Errors never stop the walk. Each one becomes a [`FileFailure`], and its path is also listed in
//! [`CrawlResult::incomplete`]: the planner must not conclude that files under an unreadable
//! directory (or an unmounted root) were deleted just because the walk could not see them.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::Serialize;
use walkdir::{DirEntry, WalkDir};

use crate::error::{FailureReason, FileFailure, FileStat, IndexError};

/// What to walk and what to leave out.
#[derive(Debug, Clone, Default)]
pub struct CrawlOptions {
    /// Follow symbolic links (loops are detected and reported).
    pub follow_links: bool,
    /// Walk into hidden (dot-) directories and include hidden files.
    pub include_hidden: bool,
    /// If not empty, only files matching one of these globs are kept.
    pub include: Vec<String>,
    /// Files and directories matching one of these globs are left out (directories are pruned).
    pub exclude: Vec<String>,
}

/// A file the crawl found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FoundFile {
    pub path: PathBuf,
    pub size: u64,
    /// Modification time, nanoseconds since the Unix epoch (negative before 1970).
    pub mtime_ns: i64,
    /// Creation (birth) time where the filesystem records one.
    pub created_ns: Option<i64>,
}

impl FoundFile {
    /// Reads the metadata of one file (following links), e.g. for `watch` events.
    pub fn from_path(path: &Path) -> Result<Self, FileFailure> {
        let metadata = fs::metadata(path).map_err(|e| FileFailure::from_io(path, &e))?;
        Ok(Self::from_metadata(path.to_path_buf(), &metadata))
    }

    fn from_metadata(path: PathBuf, metadata: &fs::Metadata) -> Self {
        Self {
            path,
            size: metadata.len(),
            mtime_ns: metadata.modified().map(system_time_ns).unwrap_or(0),
            created_ns: metadata.created().ok().map(system_time_ns),
        }
    }

    pub fn stat(&self) -> FileStat {
        FileStat {
            size: self.size,
            mtime_ns: self.mtime_ns,
        }
    }
}

/// Nanoseconds since the Unix epoch, saturating (an i64 spans ±292 years).
pub fn system_time_ns(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_nanos()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_nanos()).map_or(i64::MIN, |ns| -ns),
    }
}

/// Everything one crawl learnt.
#[derive(Debug, Default)]
pub struct CrawlResult {
    /// The roots as walked (canonicalised when possible, so that paths match across runs).
    pub roots: Vec<PathBuf>,
    pub files: Vec<FoundFile>,
    pub failures: Vec<FileFailure>,
    /// Paths the walk could not see into (unreadable directories, broken roots): records under
    /// them must be kept, not deleted.
    pub incomplete: Vec<PathBuf>,
}

/// Compiled include/exclude rules.
#[derive(Debug, Clone)]
pub struct PathFilter {
    include: Option<GlobSet>,
    exclude: GlobSet,
}

impl PathFilter {
    pub fn new(include: &[String], exclude: &[String]) -> Result<Self, IndexError> {
        let include = if include.is_empty() {
            None
        } else {
            Some(build_globs("include", include)?)
        };
        Ok(Self {
            include,
            exclude: build_globs("exclude", exclude)?,
        })
    }

    /// Globs are tried against the path relative to its root and against the bare name, so both
    /// `raw/**` and `*.tmp.jpg` mean what users expect.
    fn matches(set: &GlobSet, relative: &Path) -> bool {
        set.is_match(relative) || relative.file_name().is_some_and(|name| set.is_match(name))
    }

    pub fn excludes(&self, relative: &Path) -> bool {
        Self::matches(&self.exclude, relative)
    }

    pub fn includes_file(&self, relative: &Path) -> bool {
        self.include
            .as_ref()
            .is_none_or(|set| Self::matches(set, relative))
            && !self.excludes(relative)
    }
}

fn build_globs(which: &'static str, patterns: &[String]) -> Result<GlobSet, IndexError> {
    let mut builder = GlobSetBuilder::new();
    for pattern in patterns {
        let glob = Glob::new(pattern).map_err(|source| IndexError::Glob {
            which,
            pattern: pattern.clone(),
            source,
        })?;
        builder.add(glob);
    }
    builder.build().map_err(|source| IndexError::Glob {
        which,
        pattern: patterns.join(", "),
        source,
    })
}

fn is_hidden(entry: &DirEntry) -> bool {
    entry.file_name().as_encoded_bytes().first() == Some(&b'.')
}

/// Walks every root. Fails only on malformed globs; everything on disk is reported, not fatal.
pub fn crawl(roots: &[PathBuf], options: &CrawlOptions) -> Result<CrawlResult, IndexError> {
    let filter = PathFilter::new(&options.include, &options.exclude)?;
    let mut result = CrawlResult::default();
    for root in roots {
        // Canonical roots make stored paths stable whatever the caller typed (`./photos`,
        // `photos/`); a root that cannot be resolved is reported and protected from deletion.
        let root = match fs::canonicalize(root) {
            Ok(canonical) => canonical,
            Err(error) => {
                tracing::warn!(root = %root.display(), %error, "cannot open root");
                // Not `from_io`: a missing root has not "vanished while indexing", it was never there.
                let reason = FailureReason::Read(format!("cannot open root: {error}"));
                result.failures.push(FileFailure::new(root, reason));
                result.incomplete.push(root.clone());
                continue;
            }
        };
        crawl_root(&root, options, &filter, &mut result);
        result.roots.push(root);
    }
    let paired = drop_paired_raws(&mut result.files);
    tracing::info!(
        files = result.files.len(),
        failures = result.failures.len(),
        roots = result.roots.len(),
        paired_raws = paired,
        "crawl finished"
    );
    Ok(result)
}

/// A RAW beside a JPEG of the same name is the same photo (`magpie_catalog::companion`): only
/// the JPEG is indexed, and the RAW is listed as its original when the image is shown. Returns how
/// many RAW files were left out.
fn drop_paired_raws(files: &mut Vec<FoundFile>) -> usize {
    use magpie_catalog::companion::{is_raw_name, is_rendered_name, pairing_key};
    let rendered: std::collections::HashSet<_> = files
        .iter()
        .filter(|file| is_rendered_name(&file.path))
        .filter_map(|file| pairing_key(&file.path))
        .collect();
    let before = files.len();
    files.retain(|file| {
        !(is_raw_name(&file.path)
            && pairing_key(&file.path).is_some_and(|key| rendered.contains(&key)))
    });
    before - files.len()
}

fn crawl_root(root: &Path, options: &CrawlOptions, filter: &PathFilter, result: &mut CrawlResult) {
    let walker = WalkDir::new(root)
        .follow_links(options.follow_links)
        .into_iter()
        .filter_entry(|entry| {
            // The root itself is always walked: naming `~/.photos` explicitly is asking for it.
            if entry.depth() == 0 {
                return true;
            }
            if !options.include_hidden && is_hidden(entry) {
                return false;
            }
            let relative = entry.path().strip_prefix(root).unwrap_or(entry.path());
            !filter.excludes(relative)
        });
    for entry in walker {
        match entry {
            Ok(entry) => {
                // Without --follow-links a symlink is neither a file nor a directory: skipped.
                if !entry.file_type().is_file() {
                    continue;
                }
                let relative = entry.path().strip_prefix(root).unwrap_or(entry.path());
                if !filter.includes_file(relative) {
                    continue;
                }
                match entry.metadata() {
                    Ok(metadata) => result
                        .files
                        .push(FoundFile::from_metadata(entry.into_path(), &metadata)),
                    Err(error) => record_walk_error(root, &error, result),
                }
            }
            Err(error) => record_walk_error(root, &error, result),
        }
    }
}

fn record_walk_error(root: &Path, error: &walkdir::Error, result: &mut CrawlResult) {
    let path = error.path().unwrap_or(root).to_path_buf();
    let reason = if let Some(ancestor) = error.loop_ancestor() {
        FailureReason::SymlinkLoop {
            ancestor: ancestor.to_path_buf(),
        }
    } else if let Some(io_error) = error.io_error() {
        FailureReason::from_io(io_error)
    } else {
        FailureReason::Read(error.to_string())
    };
    tracing::warn!(path = %path.display(), %reason, "crawl error");
    // A loop is not missing data (its target was walked elsewhere), but protecting the link's path
    // costs nothing and keeps the rule simple: wherever the walk failed, nothing is deleted.
    result.incomplete.push(path.clone());
    result.failures.push(FileFailure::new(path, reason));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(result: &CrawlResult, root: &Path) -> Vec<String> {
        let mut names: Vec<String> = result
            .files
            .iter()
            .map(|file| {
                file.path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        names.sort();
        names
    }

    fn touch(path: &Path) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, b"x").unwrap();
    }

    #[test]
    fn a_raw_beside_a_jpeg_of_the_same_name_is_not_crawled_twice() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "IMG_1.JPG",
            "IMG_1.CR3",
            "IMG_2.nef",
            "img_3.dng",
            "IMG_3.jpeg",
            "x/IMG_1.ARW",
        ] {
            touch(&dir.path().join(name));
        }
        let result = crawl(&[dir.path().to_path_buf()], &CrawlOptions::default()).unwrap();
        let root = fs::canonicalize(dir.path()).unwrap();
        // IMG_1.CR3 and img_3.dng have a JPEG beside them; IMG_2.nef and x/IMG_1.ARW do not.
        assert_eq!(
            names(&result, &root),
            ["IMG_1.JPG", "IMG_2.nef", "IMG_3.jpeg", "x/IMG_1.ARW"]
        );
    }

    #[test]
    fn hidden_entries_are_skipped_unless_asked() {
        let dir = tempfile::tempdir().unwrap();
        touch(&dir.path().join("a.jpg"));
        touch(&dir.path().join(".hidden.jpg"));
        touch(&dir.path().join(".cache/b.jpg"));
        let roots = vec![dir.path().to_path_buf()];
        let root = fs::canonicalize(dir.path()).unwrap();

        let default = crawl(&roots, &CrawlOptions::default()).unwrap();
        assert_eq!(names(&default, &root), ["a.jpg"]);

        let all = crawl(
            &roots,
            &CrawlOptions {
                include_hidden: true,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(names(&all, &root), [".cache/b.jpg", ".hidden.jpg", "a.jpg"]);
    }

    #[test]
    fn include_and_exclude_globs_match_relative_path_and_name() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "a.jpg",
            "b.png",
            "raw/c.jpg",
            "keep/d.jpg",
            "keep/e.tmp.jpg",
        ] {
            touch(&dir.path().join(name));
        }
        let options = CrawlOptions {
            include: vec!["*.jpg".into()],
            exclude: vec!["raw".into(), "*.tmp.jpg".into()],
            ..Default::default()
        };
        let result = crawl(&[dir.path().to_path_buf()], &options).unwrap();
        let root = fs::canonicalize(dir.path()).unwrap();
        assert_eq!(names(&result, &root), ["a.jpg", "keep/d.jpg"]);
    }

    #[test]
    fn malformed_glob_is_an_error_naming_the_pattern() {
        let options = CrawlOptions {
            exclude: vec!["a[".into()],
            ..Default::default()
        };
        let error = crawl(&[], &options).unwrap_err();
        assert!(error.to_string().contains("a["), "{error}");
    }

    #[test]
    fn missing_root_is_reported_and_protected() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("unmounted");
        let result = crawl(std::slice::from_ref(&missing), &CrawlOptions::default()).unwrap();
        assert!(result.files.is_empty());
        assert_eq!(result.failures.len(), 1);
        assert!(
            matches!(&result.failures[0].reason, FailureReason::Read(reason) if reason.contains("cannot open root"))
        );
        assert_eq!(result.incomplete, [missing]);
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_followed_only_when_asked_and_loops_reported() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        touch(&dir.path().join("real/a.jpg"));
        symlink(dir.path().join("real"), dir.path().join("linked")).unwrap();
        symlink(dir.path(), dir.path().join("real/loop")).unwrap();
        let roots = vec![dir.path().to_path_buf()];
        let root = fs::canonicalize(dir.path()).unwrap();

        let plain = crawl(&roots, &CrawlOptions::default()).unwrap();
        assert_eq!(names(&plain, &root), ["real/a.jpg"]);
        assert!(plain.failures.is_empty());

        let followed = crawl(
            &roots,
            &CrawlOptions {
                follow_links: true,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(names(&followed, &root), ["linked/a.jpg", "real/a.jpg"]);
        assert!(!followed.failures.is_empty());
        assert!(followed
            .failures
            .iter()
            .all(|failure| matches!(failure.reason, FailureReason::SymlinkLoop { .. })));
    }

    #[cfg(unix)]
    #[test]
    fn non_utf8_names_survive() {
        use std::ffi::OsStr;
        use std::os::unix::ffi::OsStrExt;
        let dir = tempfile::tempdir().unwrap();
        let name = OsStr::from_bytes(b"caf\xe9.jpg");
        fs::write(dir.path().join(name), b"x")
            .expect("the temporary filesystem takes a non-UTF-8 name (Linux filesystems do)");
        let result = crawl(&[dir.path().to_path_buf()], &CrawlOptions::default()).unwrap();
        assert_eq!(result.files.len(), 1);
        assert_eq!(result.files[0].path.file_name(), Some(name));
    }

    #[cfg(unix)]
    #[test]
    fn unreadable_directory_is_a_failure_not_fatal() {
        use std::os::unix::fs::PermissionsExt;
        // Root reads any directory; the case only exists without its privileges.
        if magpie_testkit::reran_unprivileged() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        touch(&dir.path().join("ok.jpg"));
        let locked = dir.path().join("locked");
        touch(&locked.join("secret.jpg"));
        fs::set_permissions(&locked, fs::Permissions::from_mode(0o000)).unwrap();
        assert!(
            fs::read_dir(&locked).is_err(),
            "a mode-000 directory is readable: the test cannot show anything"
        );
        let result = crawl(&[dir.path().to_path_buf()], &CrawlOptions::default()).unwrap();
        fs::set_permissions(&locked, fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(result.files.len(), 1);
        assert_eq!(result.failures.len(), 1);
        assert_eq!(result.failures[0].reason, FailureReason::PermissionDenied);
        assert!(result
            .incomplete
            .iter()
            .any(|path| path.ends_with("locked")));
    }
}
