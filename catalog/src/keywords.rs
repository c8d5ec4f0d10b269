//! A keyword index of records that live outside a library: the same tantivy index (same fields,
//! analyzers, BM25 boosts and filter queries) that a library keeps beside sled, built from
//! records another store holds. A remote vector backend (Milvus) uses it on the serving host for
//! what the remote engine cannot rank — keywords over file names, paths and EXIF, image text —
//! and for each hit's record, so its keyword ranking is the local library's, not a second one.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::filters::Filters;
use crate::record::{ImageId, ImageRecord};
use crate::text::{TextIndex, TextSnapshot};
use crate::words::TextQuery;
use crate::CatalogError;

/// A keyword index in a folder of its own, opened for reading.
pub struct KeywordIndex {
    dir: PathBuf,
    snapshot: TextSnapshot,
}

impl KeywordIndex {
    /// Replaces whatever `dir` holds with an index of `records`, stamped with `stamp` (what the
    /// records were built from, so a later [`KeywordIndex::open_if_current`] knows whether it is
    /// stale).
    pub fn build(
        dir: &Path,
        stamp: &str,
        records: impl IntoIterator<Item = ImageRecord>,
    ) -> Result<Self> {
        if dir.exists() {
            std::fs::remove_dir_all(dir).map_err(CatalogError::io(dir))?;
        }
        let index = TextIndex::open(dir, true)?;
        let mut writer = index.writer()?;
        for record in records {
            writer.upsert(&record)?;
        }
        writer.commit(1)?;
        let stamp_file = dir.join(STAMP_FILE);
        std::fs::write(&stamp_file, stamp).map_err(CatalogError::io(&stamp_file))?;
        Self::open(dir)
    }

    /// The index in `dir` when it was built with `stamp`; `None` when it is missing or stale.
    pub fn open_if_current(dir: &Path, stamp: &str) -> Result<Option<Self>> {
        match std::fs::read_to_string(dir.join(STAMP_FILE)) {
            Ok(found) if found == stamp => Ok(Some(Self::open(dir)?)),
            _ => Ok(None),
        }
    }

    fn open(dir: &Path) -> Result<Self> {
        let index = TextIndex::open(dir, false)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            snapshot: index.snapshot()?,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Number of records.
    pub fn len(&self) -> u64 {
        self.snapshot.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The record with `id`.
    pub fn get(&self, id: ImageId) -> Option<ImageRecord> {
        self.snapshot.get(id)
    }

    /// Every record, by id.
    pub fn records(&self) -> Vec<ImageRecord> {
        self.snapshot.all()
    }

    /// BM25 over file name, path, camera, tags and EXIF text, restricted by `filters` — the
    /// library's keyword search.
    pub fn keyword_search(
        &self,
        text: &str,
        filters: &Filters,
        limit: usize,
    ) -> std::result::Result<Vec<(ImageId, f32)>, String> {
        self.snapshot.keyword_search(text, filters, limit)
    }

    /// The library's image-text (OCR) search over these records.
    pub fn image_text_search(
        &self,
        query: &TextQuery,
        filters: &Filters,
        limit: usize,
    ) -> std::result::Result<Vec<(ImageId, f32, bool)>, String> {
        self.snapshot.image_text_search(query, filters, limit)
    }

    /// The ids matching `filters`, decided as the library decides them.
    pub fn filter_ids(&self, filters: &Filters) -> std::result::Result<HashSet<ImageId>, String> {
        self.snapshot.filter_ids(filters)
    }
}

/// What the index was built from (see [`KeywordIndex::build`]).
const STAMP_FILE: &str = "magpie-stamp";
