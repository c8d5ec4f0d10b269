//! Settings a library keeps for itself, so that the next `magpie index` does what the last one
//! was asked to without repeating the flags: today whether the OCR stage runs, and with which
//! model. Stored as `settings.json` in the library (written atomically); a missing file is the
//! defaults, an unreadable one an error naming it.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{CatalogError, Result};
use crate::fsutil::write_atomic;
use crate::LibraryLayout;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LibrarySettings {
    /// Read the words in images (OCR) after embedding (`magpie index --ocr`, until `--no-ocr`).
    pub ocr: bool,
    /// The OCR model (a store name or folder); `None`: the default one.
    pub ocr_model: Option<String>,
}

impl LibrarySettings {
    pub fn load(library: &Path) -> Result<Self> {
        let path = LibraryLayout::new(library).settings_file();
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| CatalogError::Corrupt {
                path,
                reason: format!("library settings: {e}"),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(CatalogError::Io { path, source: e }),
        }
    }

    /// Saves the settings; the caller holds the library's writer lock.
    pub fn save(&self, library: &Path) -> Result<()> {
        let path = LibraryLayout::new(library).settings_file();
        write_atomic(&path, &serde_json::to_vec_pretty(self).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_round_trip_and_default_when_absent() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            LibrarySettings::load(dir.path()).unwrap(),
            LibrarySettings::default()
        );
        let on = LibrarySettings {
            ocr: true,
            ocr_model: Some("pp-ocrv4".into()),
        };
        on.save(dir.path()).unwrap();
        assert_eq!(LibrarySettings::load(dir.path()).unwrap(), on);
        std::fs::write(dir.path().join("settings.json"), b"{ nope").unwrap();
        let err = LibrarySettings::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("settings.json"), "{err}");
    }
}
