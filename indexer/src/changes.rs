//! Incremental planning: what the catalog knows + what the crawl found → what to do.
//!
//! Pure apart from hashing, which goes through [`ContentHasher`] so tests can count it. Content is
//! read only when metadata cannot decide:
//! - a known file whose size or mtime changed is hashed: same hash → [`Touch`] (metadata only),
//!   otherwise it is re-embedded;
//! - a new file is hashed only if a vanished file has exactly its size — the only way it can be a
//!   move — so a fresh library is not read twice (the decode workers hash what they read anyway);
//! - an unchanged file is never read.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Serialize, Serializer};

use crate::crawl::{CrawlResult, FoundFile};
use crate::error::FileFailure;

/// blake3 of a file's whole content.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ContentHash(pub [u8; 32]);

impl ContentHash {
    pub fn of_bytes(bytes: &[u8]) -> Self {
        Self(*blake3::hash(bytes).as_bytes())
    }
}

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentHash({self})")
    }
}

impl Serialize for ContentHash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Hashes file content; a trait so tests can count reads.
pub trait ContentHasher: Sync {
    fn hash_file(&self, path: &Path) -> io::Result<ContentHash>;
}

/// Streams the file through blake3 (constant memory whatever the file size).
#[derive(Debug, Clone, Copy, Default)]
pub struct Blake3Hasher;

impl ContentHasher for Blake3Hasher {
    fn hash_file(&self, path: &Path) -> io::Result<ContentHash> {
        let mut hasher = blake3::Hasher::new();
        hasher.update_reader(File::open(path)?)?;
        Ok(ContentHash(*hasher.finalize().as_bytes()))
    }
}

/// A file as the catalog remembers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownFile {
    pub path: PathBuf,
    pub size: u64,
    pub mtime_ns: i64,
    /// `None` for files recorded without content (failures, non-images): they are never a move
    /// source, and if they change they are simply processed again.
    pub content_hash: Option<ContentHash>,
}

/// A changed file whose content is the same: update the record's size/mtime, keep the embedding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Touch {
    pub file: FoundFile,
    pub content_hash: ContentHash,
}

/// A file that moved (or was renamed): same content at a new path; keep the embedding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Move {
    pub from: PathBuf,
    pub to: FoundFile,
    pub content_hash: ContentHash,
}

/// Whether a file to decode is new to the catalog or replaces a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobKind {
    Add,
    Reembed,
}

/// A file the decode pipeline must process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub file: FoundFile,
    pub kind: JobKind,
}

/// The outcome of planning.
#[derive(Debug, Default)]
pub struct Plan {
    /// New files and changed content, to decode and embed.
    pub jobs: Vec<Job>,
    pub touches: Vec<Touch>,
    pub moves: Vec<Move>,
    /// Records to delete: known files under the roots that are gone.
    pub removals: Vec<PathBuf>,
    pub unchanged: usize,
    /// Files that could not even be hashed (vanished since the crawl, permissions).
    pub failures: Vec<FileFailure>,
}

impl Plan {
    pub fn count(&self, kind: JobKind) -> usize {
        self.jobs.iter().filter(|job| job.kind == kind).count()
    }
}

/// Whether `path` is `ancestor` or lies under it.
fn is_within(path: &Path, ancestor: &Path) -> bool {
    path.starts_with(ancestor)
}

/// Plans an incremental run. `known` may hold records of other roots; only those under
/// `crawl.roots` are candidates for deletion, and none under `crawl.incomplete`.
pub fn plan_changes(
    known: impl IntoIterator<Item = KnownFile>,
    crawl: &CrawlResult,
    hasher: &dyn ContentHasher,
) -> Plan {
    let mut plan = Plan::default();
    let protected = |path: &Path| crawl.incomplete.iter().any(|dir| is_within(path, dir));
    let mut known: HashMap<PathBuf, KnownFile> = known
        .into_iter()
        .filter(|record| {
            crawl.roots.iter().any(|root| is_within(&record.path, root)) && !protected(&record.path)
        })
        .map(|record| (record.path.clone(), record))
        .collect();

    let mut new_files = Vec::new();
    for file in &crawl.files {
        let Some(record) = known.remove(&file.path) else {
            new_files.push(file);
            continue;
        };
        if record.size == file.size && record.mtime_ns == file.mtime_ns {
            plan.unchanged += 1;
            continue;
        }
        match (record.content_hash, hasher.hash_file(&file.path)) {
            (Some(old), Ok(new)) if old == new => {
                plan.touches.push(Touch {
                    file: file.clone(),
                    content_hash: new,
                });
            }
            (_, Ok(_)) => plan.jobs.push(Job {
                file: file.clone(),
                kind: JobKind::Reembed,
            }),
            (_, Err(error)) => {
                plan.failures
                    .push(FileFailure::from_io(&file.path, &error).with_stat(file.stat()));
            }
        }
    }

    // What is left in `known` vanished. Index the ones with a hash by size: a new file can only be
    // their moved self if the size matches, and only then is it worth reading.
    let mut vanished: Vec<KnownFile> = known.into_values().collect();
    vanished.sort_by(|a, b| a.path.cmp(&b.path));
    let mut vanished_by_size: HashMap<u64, Vec<usize>> = HashMap::new();
    for (index, record) in vanished.iter().enumerate() {
        if record.content_hash.is_some() {
            vanished_by_size.entry(record.size).or_default().push(index);
        }
    }
    let mut moved_away: HashSet<usize> = HashSet::new();
    new_files.sort_by(|a, b| a.path.cmp(&b.path));
    for file in new_files {
        let Some(candidates) = vanished_by_size.get(&file.size) else {
            plan.jobs.push(Job {
                file: file.clone(),
                kind: JobKind::Add,
            });
            continue;
        };
        let hash = match hasher.hash_file(&file.path) {
            Ok(hash) => hash,
            Err(error) => {
                plan.failures
                    .push(FileFailure::from_io(&file.path, &error).with_stat(file.stat()));
                continue;
            }
        };
        let source = candidates.iter().copied().find(|index| {
            !moved_away.contains(index) && vanished[*index].content_hash == Some(hash)
        });
        match source {
            Some(index) => {
                moved_away.insert(index);
                plan.moves.push(Move {
                    from: vanished[index].path.clone(),
                    to: file.clone(),
                    content_hash: hash,
                });
            }
            None => plan.jobs.push(Job {
                file: file.clone(),
                kind: JobKind::Add,
            }),
        }
    }
    plan.removals = vanished
        .into_iter()
        .enumerate()
        .filter(|(index, _)| !moved_away.contains(index))
        .map(|(_, record)| record.path)
        .collect();

    tracing::info!(
        add = plan.count(JobKind::Add),
        reembed = plan.count(JobKind::Reembed),
        touch = plan.touches.len(),
        moves = plan.moves.len(),
        remove = plan.removals.len(),
        unchanged = plan.unchanged,
        failed = plan.failures.len(),
        "planned changes"
    );
    plan
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::crawl::{crawl, CrawlOptions};
    use crate::error::FailureReason;

    /// Real hashing, counted.
    #[derive(Default)]
    struct CountingHasher {
        calls: AtomicUsize,
    }

    impl ContentHasher for CountingHasher {
        fn hash_file(&self, path: &Path) -> io::Result<ContentHash> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            Blake3Hasher.hash_file(path)
        }
    }

    /// What a catalog would hold after indexing `crawl` completely.
    fn catalog_of(result: &CrawlResult) -> Vec<KnownFile> {
        result
            .files
            .iter()
            .map(|file| KnownFile {
                path: file.path.clone(),
                size: file.size,
                mtime_ns: file.mtime_ns,
                content_hash: Some(Blake3Hasher.hash_file(&file.path).unwrap()),
            })
            .collect()
    }

    fn set_mtime(path: &Path, seconds: u64) {
        let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(seconds);
        File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(time)
            .unwrap();
    }

    struct Library {
        dir: tempfile::TempDir,
    }

    impl Library {
        fn new(files: &[(&str, &[u8])]) -> Self {
            let dir = tempfile::tempdir().unwrap();
            let library = Self { dir };
            for (name, content) in files {
                library.write(name, content);
            }
            library
        }

        fn path(&self, name: &str) -> PathBuf {
            std::fs::canonicalize(self.dir.path()).unwrap().join(name)
        }

        fn write(&self, name: &str, content: &[u8]) {
            let path = self.dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, content).unwrap();
            set_mtime(&path, 1_600_000_000);
        }

        fn crawl(&self) -> CrawlResult {
            crawl(&[self.dir.path().to_path_buf()], &CrawlOptions::default()).unwrap()
        }
    }

    #[test]
    fn unchanged_tree_reads_no_content() {
        let library = Library::new(&[("a.jpg", b"aaaa"), ("b/c.png", b"cc"), ("d.gif", b"dddddd")]);
        let known = catalog_of(&library.crawl());
        let hasher = CountingHasher::default();
        let plan = plan_changes(known, &library.crawl(), &hasher);
        assert_eq!(hasher.calls.load(Ordering::SeqCst), 0);
        assert_eq!(plan.unchanged, 3);
        assert!(plan.jobs.is_empty() && plan.touches.is_empty() && plan.moves.is_empty());
        assert!(plan.removals.is_empty() && plan.failures.is_empty());
    }

    #[test]
    fn fresh_library_is_planned_without_reading() {
        let library = Library::new(&[("a.jpg", b"aaaa"), ("b.jpg", b"bbbb")]);
        let hasher = CountingHasher::default();
        let plan = plan_changes(Vec::new(), &library.crawl(), &hasher);
        assert_eq!(hasher.calls.load(Ordering::SeqCst), 0);
        assert_eq!(plan.count(JobKind::Add), 2);
    }

    #[test]
    fn classifies_every_kind_of_change() {
        let library = Library::new(&[
            ("same.jpg", b"same"),
            ("touched.jpg", b"touched"),
            ("edited.jpg", b"before"),
            ("old/name.jpg", b"moving content"),
            ("deleted.jpg", b"gone"),
        ]);
        let known = catalog_of(&library.crawl());

        set_mtime(&library.path("touched.jpg"), 1_700_000_000);
        // A different size: `write` resets the mtime, so the size must tell.
        library.write("edited.jpg", b"after the edit");
        std::fs::create_dir_all(library.path("new")).unwrap();
        std::fs::rename(library.path("old/name.jpg"), library.path("new/name.jpg")).unwrap();
        std::fs::remove_file(library.path("deleted.jpg")).unwrap();
        library.write("added.jpg", b"brand new");
        // Same size as the deleted file but different content: hashed, found not to be a move.
        library.write("lookalike.jpg", b"nope");

        let hasher = CountingHasher::default();
        let plan = plan_changes(known, &library.crawl(), &hasher);

        assert_eq!(plan.unchanged, 1);
        assert_eq!(plan.touches.len(), 1);
        assert_eq!(plan.touches[0].file.path, library.path("touched.jpg"));
        let jobs: Vec<(PathBuf, JobKind)> = plan
            .jobs
            .iter()
            .map(|job| (job.file.path.clone(), job.kind))
            .collect();
        assert_eq!(
            jobs,
            [
                (library.path("edited.jpg"), JobKind::Reembed),
                (library.path("added.jpg"), JobKind::Add),
                (library.path("lookalike.jpg"), JobKind::Add),
            ]
        );
        assert_eq!(plan.moves.len(), 1);
        assert_eq!(plan.moves[0].from, library.path("old/name.jpg"));
        assert_eq!(plan.moves[0].to.path, library.path("new/name.jpg"));
        assert_eq!(plan.removals, [library.path("deleted.jpg")]);
        // touched + edited (metadata changed) + moved + lookalike (size matches a vanished file);
        // `added.jpg` has no size match and `same.jpg` is unchanged: neither is read.
        assert_eq!(hasher.calls.load(Ordering::SeqCst), 4);
    }

    #[test]
    fn records_of_other_roots_and_unreadable_places_are_not_deleted() {
        let library = Library::new(&[("a.jpg", b"a")]);
        let root = library.path("");
        let other_root = KnownFile {
            path: PathBuf::from("/elsewhere/b.jpg"),
            size: 1,
            mtime_ns: 0,
            content_hash: None,
        };
        let behind_locked_dir = KnownFile {
            path: root.join("locked/c.jpg"),
            size: 1,
            mtime_ns: 0,
            content_hash: None,
        };
        let mut crawl = library.crawl();
        crawl.incomplete.push(root.join("locked"));
        let plan = plan_changes(vec![other_root, behind_locked_dir], &crawl, &Blake3Hasher);
        assert!(plan.removals.is_empty(), "{:?}", plan.removals);
        assert_eq!(plan.count(JobKind::Add), 1);
    }

    #[test]
    fn a_file_vanishing_before_hashing_is_a_failure() {
        let library = Library::new(&[("a.jpg", b"aaaa")]);
        let mut known = catalog_of(&library.crawl());
        known[0].mtime_ns -= 1;
        let crawl = library.crawl();
        std::fs::remove_file(library.path("a.jpg")).unwrap();
        let plan = plan_changes(known, &crawl, &Blake3Hasher);
        assert_eq!(plan.failures.len(), 1);
        assert_eq!(plan.failures[0].reason, FailureReason::Vanished);
        assert!(plan.removals.is_empty());
    }
}
