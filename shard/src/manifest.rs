//! `shards/shard_K.json`: what one shard holds and how to tell that its files are whole.
//!
//! The manifest is written last, after the embeddings, the metadata and the thumbnails are in
//! place, and removed first when a shard is recomputed; so a manifest that exists describes a
//! complete shard, and [`ShardManifest::validate`] checks that its files are still the ones it
//! describes (present, same size and blake3, row counts and shapes as recorded). The input
//! fingerprint and the model key decide whether a re-run can skip the shard.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::ShardError;
use crate::fsutil::file_checksum;
use crate::layout::ShardLayout;
use crate::npy::{read_header, Dtype};

/// The manifest format this crate writes; a newer one is refused rather than misread.
pub const MANIFEST_FORMAT: u32 = 1;

/// One data file of a shard, as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardFile {
    /// Relative to the shard folder (`img_emb/img_emb_3.npy`).
    pub path: String,
    pub bytes: u64,
    /// blake3 of the content, hex.
    pub blake3: String,
}

/// A file of the shard's input that could not be embedded, and why (the indexer's words).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardFailure {
    /// The path as text (lossy for a non-UTF-8 name).
    pub path: String,
    /// The raw path, only when `path` would lose it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_bytes: Option<Vec<u8>>,
    /// A short stable name: `not-an-image`, `decode`, `permission-denied`…
    pub kind: String,
    pub reason: String,
}

impl ShardFailure {
    pub fn of(failure: &magpie_indexer::FileFailure) -> Self {
        let raw = magpie_catalog::path_to_bytes(&failure.path);
        let text = failure.path.to_string_lossy().into_owned();
        Self {
            path_bytes: (text.as_bytes() != raw.as_slice()).then_some(raw),
            path: text,
            kind: failure.reason.kind().to_string(),
            reason: failure.reason.to_string(),
        }
    }

    /// The path exactly (raw bytes when recorded).
    pub fn path(&self) -> PathBuf {
        match &self.path_bytes {
            Some(raw) => magpie_catalog::bytes_to_path(raw),
            None => PathBuf::from(&self.path),
        }
    }
}

/// Everything known about one written shard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardManifest {
    pub format: u32,
    /// K of `--shard K/N`.
    pub shard: u32,
    /// N of `--shard K/N`.
    pub shards: u32,
    /// The key the local library records for the model (`blake3:<weights checksum>`, as
    /// `magpie_searcher::library::model_key` makes it): shards of different models never mix.
    pub model_key: String,
    /// The model's name, for people.
    pub model_name: String,
    pub dims: usize,
    pub dtype: Dtype,
    pub rows: u64,
    pub embeddings: ShardFile,
    pub metadata: ShardFile,
    /// blake3 over the sorted (path, size, mtime_ns) of the files selected for the shard.
    pub input_fingerprint: String,
    /// Files selected for the shard (embedded, failed or not images).
    pub input_files: u64,
    /// Unreadable and undecodable files, sorted by path.
    pub failures: Vec<ShardFailure>,
    /// Unix seconds when the shard was embedded (every row's `indexed_at`).
    pub created_at: i64,
    /// The Magpie that wrote it.
    pub writer: String,
}

impl ShardManifest {
    /// Reads a manifest file.
    pub fn load(path: &Path) -> Result<Self, ShardError> {
        let file = File::open(path).map_err(|e| ShardError::io(path, e))?;
        let manifest: Self = serde_json::from_reader(BufReader::new(file))
            .map_err(|e| ShardError::invalid(path, format!("not a shard manifest: {e}")))?;
        if manifest.format != MANIFEST_FORMAT {
            return Err(ShardError::invalid(
                path,
                format!(
                    "manifest format {} (this Magpie reads {MANIFEST_FORMAT}); use the Magpie that wrote it",
                    manifest.format
                ),
            ));
        }
        if manifest.shards == 0 || manifest.shard >= manifest.shards {
            return Err(ShardError::invalid(
                path,
                format!(
                    "shard {}/{} is not K/N with K < N",
                    manifest.shard, manifest.shards
                ),
            ));
        }
        Ok(manifest)
    }

    /// Checks the shard's files under `dir` against the manifest: the expected names, present,
    /// the recorded size and blake3, the `.npy` header's shape and type and the parquet row
    /// count equal to `rows`. The error names the file and what is wrong with it.
    pub fn validate(&self, dir: &Path) -> Result<(), ShardError> {
        let layout = ShardLayout::new(dir);
        self.check_file(
            &layout,
            &self.embeddings,
            &ShardLayout::embeddings_name(self.shard),
        )?;
        self.check_file(
            &layout,
            &self.metadata,
            &ShardLayout::metadata_name(self.shard),
        )?;

        let npy = layout.embeddings(self.shard);
        let file = File::open(&npy).map_err(|e| ShardError::io(&npy, e))?;
        let header =
            read_header(&mut BufReader::new(file)).map_err(|e| ShardError::invalid(&npy, e))?;
        if header.rows as u64 != self.rows || header.dims != self.dims || header.dtype != self.dtype
        {
            return Err(ShardError::invalid(
                &npy,
                format!(
                    "holds {} × {} {}, but the manifest says {} × {} {}",
                    header.rows, header.dims, header.dtype, self.rows, self.dims, self.dtype
                ),
            ));
        }
        if header.file_len() != self.embeddings.bytes {
            return Err(ShardError::invalid(
                &npy,
                format!(
                    "{} bytes, but a {} × {} array takes {}",
                    self.embeddings.bytes,
                    header.rows,
                    header.dims,
                    header.file_len()
                ),
            ));
        }
        let parquet = layout.metadata(self.shard);
        let rows = crate::table::row_count(&parquet)?;
        if rows != self.rows {
            return Err(ShardError::invalid(
                &parquet,
                format!("{rows} rows, but the manifest says {}", self.rows),
            ));
        }
        Ok(())
    }

    fn check_file(
        &self,
        layout: &ShardLayout,
        recorded: &ShardFile,
        expected_name: &str,
    ) -> Result<(), ShardError> {
        let path = layout.root().join(expected_name);
        if recorded.path != expected_name {
            return Err(ShardError::invalid(
                layout.manifest(self.shard),
                format!(
                    "names {:?} where shard {} keeps {expected_name:?}",
                    recorded.path, self.shard
                ),
            ));
        }
        if !path.is_file() {
            return Err(ShardError::invalid(&path, "missing"));
        }
        let (checksum, bytes) = file_checksum(&path)?;
        if bytes != recorded.bytes {
            return Err(ShardError::invalid(
                &path,
                format!(
                    "{bytes} bytes, but the manifest says {} (truncated or replaced?)",
                    recorded.bytes
                ),
            ));
        }
        if checksum != recorded.blake3 {
            return Err(ShardError::invalid(
                &path,
                format!("blake3 {checksum} differs from the manifest's {} (changed since it was written)", recorded.blake3),
            ));
        }
        Ok(())
    }

    /// The data file's entry as the manifest records it.
    pub(crate) fn file_entry(path: &Path, name: String) -> Result<ShardFile, ShardError> {
        let (blake3, bytes) = file_checksum(path)?;
        Ok(ShardFile {
            path: name,
            bytes,
            blake3,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::fsutil::write_atomically;
    use crate::npy::write_npy;
    use crate::table::{write_metadata, ShardRow};
    use magpie_catalog::{ExifFields, ImageRecord};

    /// A two-row shard 1/4 written by hand, and its manifest.
    fn shard(dir: &Path) -> ShardManifest {
        let layout = ShardLayout::new(dir);
        let rows: Vec<ShardRow> = (0..2u64)
            .map(|i| ShardRow {
                record: ImageRecord {
                    id: i,
                    path: PathBuf::from(format!("/p/{i}.jpg")),
                    size: 10,
                    mtime_ns: 20,
                    content_hash: "00".into(),
                    width: 1,
                    height: 1,
                    format: "jpeg".into(),
                    exif: ExifFields::default(),
                    tags: vec![],
                    indexed_at: 0,
                    text: None,
                },
                embedding: vec![1.0, 0.0, 0.0],
                error: None,
            })
            .collect();
        write_atomically(&layout.embeddings(1), |mut file, _| {
            write_npy(
                &mut file,
                rows.iter().map(|r| r.embedding.as_slice()),
                3,
                Dtype::F16,
            )
            .map_err(|e| ShardError::io(dir, e))
        })
        .unwrap();
        write_atomically(&layout.metadata(1), |file, path| {
            write_metadata(file, path, &rows)
        })
        .unwrap();
        ShardManifest {
            format: MANIFEST_FORMAT,
            shard: 1,
            shards: 4,
            model_key: "blake3:abc".into(),
            model_name: "colour".into(),
            dims: 3,
            dtype: Dtype::F16,
            rows: 2,
            embeddings: ShardManifest::file_entry(
                &layout.embeddings(1),
                ShardLayout::embeddings_name(1),
            )
            .unwrap(),
            metadata: ShardManifest::file_entry(&layout.metadata(1), ShardLayout::metadata_name(1))
                .unwrap(),
            input_fingerprint: "f".into(),
            input_files: 2,
            failures: vec![],
            created_at: 0,
            writer: "test".into(),
        }
    }

    #[test]
    fn a_whole_shard_validates() {
        let dir = tempfile::tempdir().unwrap();
        shard(dir.path()).validate(dir.path()).unwrap();
    }

    #[test]
    fn a_truncated_npy_fails_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = shard(dir.path());
        let npy = ShardLayout::new(dir.path()).embeddings(1);
        let bytes = std::fs::read(&npy).unwrap();
        std::fs::write(&npy, &bytes[..bytes.len() - 2]).unwrap();
        let err = manifest.validate(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("img_emb_1.npy") && err.contains("truncated"),
            "{err}"
        );
    }

    #[test]
    fn a_changed_byte_or_checksum_fails() {
        let dir = tempfile::tempdir().unwrap();
        let mut manifest = shard(dir.path());
        let npy = ShardLayout::new(dir.path()).embeddings(1);
        let mut bytes = std::fs::read(&npy).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x40;
        std::fs::write(&npy, &bytes).unwrap();
        let err = manifest.validate(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("img_emb_1.npy") && err.contains("blake3"),
            "{err}"
        );

        bytes[last] ^= 0x40;
        std::fs::write(&npy, &bytes).unwrap();
        manifest.validate(dir.path()).unwrap();
        manifest.metadata.blake3 = "0".repeat(64);
        let err = manifest.validate(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("metadata_1.parquet") && err.contains("differs"),
            "{err}"
        );
    }

    #[test]
    fn row_counts_and_missing_files_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let mut manifest = shard(dir.path());
        manifest.rows = 3;
        let err = manifest.validate(dir.path()).unwrap_err().to_string();
        assert!(err.contains("manifest says 3 × 3"), "{err}");
        manifest.rows = 2;
        std::fs::remove_file(ShardLayout::new(dir.path()).metadata(1)).unwrap();
        let err = manifest.validate(dir.path()).unwrap_err().to_string();
        assert!(err.contains("metadata_1.parquet: missing"), "{err}");
    }

    #[test]
    fn manifests_load_and_refuse_other_formats() {
        let dir = tempfile::tempdir().unwrap();
        let mut manifest = shard(dir.path());
        let path = dir.path().join("shard_1.json");
        std::fs::write(&path, serde_json::to_vec(&manifest).unwrap()).unwrap();
        assert_eq!(ShardManifest::load(&path).unwrap(), manifest);
        manifest.format = 99;
        std::fs::write(&path, serde_json::to_vec(&manifest).unwrap()).unwrap();
        let err = ShardManifest::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("shard_1.json") && err.contains("format 99"),
            "{err}"
        );
        std::fs::write(&path, b"{").unwrap();
        assert!(ShardManifest::load(&path)
            .unwrap_err()
            .to_string()
            .contains("not a shard manifest"));
    }
}
