//! `magpie-migrations`: the versioned on-disk format of a Magpie library, and the ordered steps that
//! upgrade an older library to the current format.
//!
//! A library directory records its format version in the file `FORMAT` (a decimal number). The
//! key layout of each version is written down here ([`v1`], [`v2`]) so that the catalog and the
//! upgrade steps agree on it. Opening a library runs [`upgrade`]:
//! - a newer version than [`CURRENT_VERSION`] is refused (a newer Magpie wrote it);
//! - an older one is upgraded step by step. Each step is *idempotent* and the new version number
//!   is written (atomically: temp file, fsync, rename) only after the step's data is flushed, so an
//!   upgrade interrupted at any point is simply redone on the next open and nothing is lost.

use std::path::{Path, PathBuf};

pub mod atomic;

/// The format this build of Magpie writes.
pub const CURRENT_VERSION: u32 = 3;
/// File holding the format version.
pub const FORMAT_FILE: &str = "FORMAT";
/// The sled database folder inside a library.
pub const DB_DIR: &str = "db";

#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    #[error("library {path} has format version {found}, this Magpie understands up to {supported}: upgrade Magpie")]
    TooNew {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    #[error("{path}: format version file is unreadable ({reason})")]
    BadVersionFile { path: PathBuf, reason: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Sled { path: PathBuf, source: sled::Error },
    #[error("upgrading {path} from format {from} to {to}: {reason}")]
    Step {
        path: PathBuf,
        from: u32,
        to: u32,
        reason: String,
    },
}

type Result<T> = std::result::Result<T, MigrationError>;

/// Key layout of format version 1 (Magpie's first format): one sled tree, f32 embeddings, no
/// generation counter and no derived indexes.
pub mod v1 {
    /// `rec/<id: u64 BE>` → record JSON.
    pub const RECORD: &[u8] = b"rec/";
    /// `emb/<id: u64 BE>` → embedding as little-endian f32.
    pub const EMBEDDING: &[u8] = b"emb/";
    /// `meta/model` → model identity JSON.
    pub const MODEL: &[u8] = b"meta/model";
}

/// Key layout of format version 2 (current). One sled tree, so that a commit is a single atomic
/// `apply_batch`.
pub mod v2 {
    /// `r/<id BE>` → image record JSON.
    pub const RECORD: &[u8] = b"r/";
    /// `e/<id BE>` → embedding as little-endian f16 (half the bytes of f32, ample for cosine).
    pub const EMBEDDING: &[u8] = b"e/";
    /// `p/<path bytes>` → id BE.
    pub const PATH: &[u8] = b"p/";
    /// `h/<content hash 32 bytes><id BE>` → empty: finds moved files by content.
    pub const HASH: &[u8] = b"h/";
    /// `f/<path bytes>` → failure JSON (files that could not be indexed, and why).
    pub const FAILURE: &[u8] = b"f/";
    /// `c/<namespace>/<key>` → cached bytes (e.g. text embeddings).
    pub const CACHE: &[u8] = b"c/";
    /// `m/model` → model identity JSON.
    pub const MODEL: &[u8] = b"m/model";
    /// `m/generation` → u64 BE, bumped by every commit.
    pub const GENERATION: &[u8] = b"m/generation";
    /// `m/next_id` → u64 BE.
    pub const NEXT_ID: &[u8] = b"m/next_id";
}

/// One upgrade step.
pub struct Step {
    pub from: u32,
    pub to: u32,
    pub describe: &'static str,
    apply: fn(&Path) -> Result<()>,
}

/// The ordered upgrade steps.
pub fn steps() -> &'static [Step] {
    &[Step {
        from: 1,
        to: 2,
        describe: "f16 embeddings, path/hash lookups, generation counter (derived indexes are rebuilt on open)",
        apply: v1_to_v2,
    }, Step {
        from: 2,
        to: 3,
        describe: "the keyword index gains the text read in images (OCR); it is rebuilt from the database on open",
        apply: v2_to_v3,
    }]
}

/// What [`upgrade`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upgraded {
    pub from: u32,
    pub to: u32,
}

/// Reads the format version of the library at `dir`; `None` when the library has none yet.
pub fn read_version(dir: &Path) -> Result<Option<u32>> {
    let path = dir.join(FORMAT_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => text
            .trim()
            .parse()
            .map(Some)
            .map_err(|e| MigrationError::BadVersionFile {
                path,
                reason: format!(
                    "{e} (content {:?})",
                    text.chars().take(20).collect::<String>()
                ),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(MigrationError::Io { path, source }),
    }
}

/// Writes the format version atomically ([`atomic::write_atomically`]).
pub fn write_version(dir: &Path, version: u32) -> Result<()> {
    let path = dir.join(FORMAT_FILE);
    atomic::write_bytes_atomically(&path, format!("{version}\n").as_bytes(), |path, source| {
        MigrationError::Io {
            path: path.to_path_buf(),
            source,
        }
    })
}

/// Brings the library at `dir` to [`CURRENT_VERSION`]. A directory without a version file is a new
/// library and gets the current version. Must be called with the writer lock held.
pub fn upgrade(dir: &Path) -> Result<Option<Upgraded>> {
    let Some(found) = read_version(dir)? else {
        write_version(dir, CURRENT_VERSION)?;
        return Ok(None);
    };
    if found > CURRENT_VERSION {
        return Err(MigrationError::TooNew {
            path: dir.to_path_buf(),
            found,
            supported: CURRENT_VERSION,
        });
    }
    if found == CURRENT_VERSION {
        return Ok(None);
    }
    let mut version = found;
    for step in steps().iter().filter(|s| s.from >= found) {
        if step.from != version {
            continue;
        }
        tracing::info!(library = %dir.display(), from = step.from, to = step.to, "upgrading library format: {}", step.describe);
        (step.apply)(dir)?;
        write_version(dir, step.to)?;
        version = step.to;
    }
    if version != CURRENT_VERSION {
        return Err(MigrationError::Step {
            path: dir.to_path_buf(),
            from: version,
            to: CURRENT_VERSION,
            reason: "no upgrade step known".into(),
        });
    }
    Ok(Some(Upgraded {
        from: found,
        to: version,
    }))
}

fn open_db(dir: &Path) -> Result<sled::Db> {
    let path = dir.join(DB_DIR);
    open_sled(&path).map_err(|source| MigrationError::Sled { path, source })
}

/// Opens a sled database, waiting briefly when its file lock is still held by a handle this
/// process has just dropped: sled releases the lock from its background flusher, a moment after
/// the last `Db` goes away, so an immediate reopen (an upgrade step, then the writer) can see
/// `WouldBlock`. Another process holding the lock for longer still gets the error.
pub fn open_sled(path: &Path) -> sled::Result<sled::Db> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    loop {
        match sled::open(path) {
            Err(sled::Error::Io(e))
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.to_string().contains("could not acquire lock") =>
            {
                if std::time::Instant::now() >= deadline {
                    return Err(sled::Error::Io(e));
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

/// The keyword index folder inside a library (derived from sled, see `magpie-catalog`).
pub const TEXT_DIR: &str = "text";

/// 2 → 3: the records are unchanged (the OCR text is a new optional field), but the keyword
/// index's schema gains the image-text fields, and tantivy cannot add fields to an existing
/// index. The old index is removed; the writer that runs this step rebuilds it from sled as it
/// opens (its generation is then behind sled's). Removing a folder that is already gone is a
/// no-op, so the step is idempotent.
fn v2_to_v3(dir: &Path) -> Result<()> {
    let text = dir.join(TEXT_DIR);
    match std::fs::remove_dir_all(&text) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(MigrationError::Io { path: text, source }),
    }
}

/// 1 → 2: re-key records, convert embeddings to f16, build path and hash lookups, start the
/// generation counter. Everything happens in one atomic batch; running it again on an already
/// converted database finds no `rec/` keys and changes nothing.
fn v1_to_v2(dir: &Path) -> Result<()> {
    let db = open_db(dir)?;
    let db_path = dir.join(DB_DIR);
    let sled_err = |source| MigrationError::Sled {
        path: db_path.clone(),
        source,
    };
    let step_err = |reason: String| MigrationError::Step {
        path: dir.to_path_buf(),
        from: 1,
        to: 2,
        reason,
    };
    let mut batch = sled::Batch::default();
    let mut max_id = 0u64;
    let mut converted = 0usize;
    for item in db.scan_prefix(v1::RECORD) {
        let (key, value) = item.map_err(sled_err)?;
        let id_bytes: [u8; 8] = key[v1::RECORD.len()..]
            .try_into()
            .map_err(|_| step_err(format!("record key of {} bytes", key.len())))?;
        let id = u64::from_be_bytes(id_bytes);
        max_id = max_id.max(id);
        let record: serde_json::Value =
            serde_json::from_slice(&value).map_err(|e| step_err(format!("record {id}: {e}")))?;
        if let Some(path) = record.get("path").and_then(|p| p.as_array()) {
            let bytes: Vec<u8> = path
                .iter()
                .filter_map(|b| b.as_u64().map(|b| b as u8))
                .collect();
            batch.insert([v2::PATH, &bytes].concat(), &id_bytes);
        }
        if let Some(hash) = record.get("content_hash").and_then(|h| h.as_str()) {
            if let Ok(raw) = decode_hex32(hash) {
                batch.insert([v2::HASH, &raw, &id_bytes].concat(), &[][..]);
            }
        }
        batch.insert([v2::RECORD, &id_bytes].concat(), value.to_vec());
        batch.remove(key);
        let emb_key = [v1::EMBEDDING, &id_bytes].concat();
        if let Some(raw) = db.get(&emb_key).map_err(sled_err)? {
            let f16s: Vec<u8> = raw
                .chunks_exact(4)
                .flat_map(|c| {
                    half::f16::from_f32(f32::from_le_bytes([c[0], c[1], c[2], c[3]])).to_le_bytes()
                })
                .collect();
            batch.insert([v2::EMBEDDING, &id_bytes].concat(), f16s);
            batch.remove(emb_key);
        }
        converted += 1;
    }
    if let Some(model) = db.get(v1::MODEL).map_err(sled_err)? {
        batch.insert(v2::MODEL, model);
        batch.remove(v1::MODEL);
    }
    if converted > 0 || db.get(v2::GENERATION).map_err(sled_err)?.is_none() {
        let next = db
            .get(v2::NEXT_ID)
            .map_err(sled_err)?
            .and_then(|v| v.as_ref().try_into().ok().map(u64::from_be_bytes))
            .unwrap_or(0)
            .max(max_id + 1);
        batch.insert(v2::NEXT_ID, &next.to_be_bytes());
        batch.insert(v2::GENERATION, &1u64.to_be_bytes());
    }
    db.apply_batch(batch).map_err(sled_err)?;
    db.flush().map_err(sled_err)?;
    tracing::info!(records = converted, "converted format-1 records");
    Ok(())
}

fn decode_hex32(text: &str) -> std::result::Result<[u8; 32], ()> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return Err(());
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        let s = std::str::from_utf8(pair).map_err(|_| ())?;
        out[i] = u8::from_str_radix(s, 16).map_err(|_| ())?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_to_v3_drops_only_the_keyword_index_and_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(TEXT_DIR)).unwrap();
        std::fs::write(dir.path().join(TEXT_DIR).join("meta.json"), b"{}").unwrap();
        std::fs::create_dir_all(dir.path().join(DB_DIR)).unwrap();
        write_version(dir.path(), 2).unwrap();
        assert_eq!(
            upgrade(dir.path()).unwrap(),
            Some(Upgraded { from: 2, to: 3 })
        );
        assert!(!dir.path().join(TEXT_DIR).exists());
        assert!(dir.path().join(DB_DIR).is_dir(), "the database stays");
        v2_to_v3(dir.path()).unwrap();
        assert_eq!(read_version(dir.path()).unwrap(), Some(3));
    }

    #[test]
    fn new_library_gets_current_version_and_newer_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(upgrade(dir.path()).unwrap(), None);
        assert_eq!(read_version(dir.path()).unwrap(), Some(CURRENT_VERSION));
        write_version(dir.path(), CURRENT_VERSION + 2).unwrap();
        let err = upgrade(dir.path()).unwrap_err().to_string();
        assert!(err.contains("upgrade Magpie"), "{err}");
    }

    #[test]
    fn garbage_version_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FORMAT_FILE), "banana").unwrap();
        let err = upgrade(dir.path()).unwrap_err().to_string();
        assert!(err.contains("FORMAT") && err.contains("banana"), "{err}");
    }

    #[test]
    fn v1_to_v2_is_idempotent_and_converts_everything() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = sled::open(dir.path().join(DB_DIR)).unwrap();
            for id in 0u64..5 {
                let record = serde_json::json!({"id": id, "path": format!("/p/{id}.jpg").into_bytes(),
                    "content_hash": format!("{:064x}", id + 1)});
                db.insert(
                    [v1::RECORD, &id.to_be_bytes()].concat(),
                    serde_json::to_vec(&record).unwrap(),
                )
                .unwrap();
                let emb: Vec<u8> = [0.6f32, 0.8].iter().flat_map(|f| f.to_le_bytes()).collect();
                db.insert([v1::EMBEDDING, &id.to_be_bytes()].concat(), emb)
                    .unwrap();
            }
            db.insert(
                v1::MODEL,
                &b"{\"name\":\"m\",\"checksum\":\"c\",\"dim\":2}"[..],
            )
            .unwrap();
            db.flush().unwrap();
        }
        write_version(dir.path(), 1).unwrap();
        // Simulate an interrupted upgrade: the step ran but the version was not written yet.
        v1_to_v2(dir.path()).unwrap();
        assert_eq!(read_version(dir.path()).unwrap(), Some(1));
        let up = upgrade(dir.path()).unwrap().unwrap();
        assert_eq!(
            (up.from, up.to),
            (1, CURRENT_VERSION),
            "every step after it runs too"
        );
        let db = sled::open(dir.path().join(DB_DIR)).unwrap();
        assert_eq!(db.scan_prefix(v2::RECORD).count(), 5);
        assert_eq!(db.scan_prefix(v2::PATH).count(), 5);
        assert_eq!(db.scan_prefix(v2::HASH).count(), 5);
        assert_eq!(db.scan_prefix(v1::RECORD).count(), 0);
        let emb = db
            .get([v2::EMBEDDING, &3u64.to_be_bytes()].concat())
            .unwrap()
            .unwrap();
        assert_eq!(emb.len(), 4);
        assert_eq!(
            half::f16::from_le_bytes([emb[2], emb[3]]).to_f32(),
            half::f16::from_f32(0.8).to_f32()
        );
        assert_eq!(
            db.get(v2::NEXT_ID).unwrap().unwrap().as_ref(),
            &5u64.to_be_bytes()
        );
    }
}
