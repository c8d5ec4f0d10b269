//! RAW + JPEG pairs: the one definition of "this RAW file is the original of that JPEG".
//!
//! Cameras shooting RAW + JPEG write `IMG_0001.CR3` next to `IMG_0001.JPG`: one photo, two files.
//! Magpie indexes it once, as the JPEG (what the camera rendered, and what a browser shows), and
//! lists the RAW as its original. The rule is a naming one: same folder, same name up to the
//! extension (case-insensitive), one a camera-RAW extension and the other a JPEG (or HEIF)
//! extension. The indexer's crawl applies it to what it walked; the web API applies it to the file
//! system when it describes an image, so a RAW added or removed later is seen without re-indexing.

use std::path::{Path, PathBuf};

/// Extensions of camera RAW files (lower case).
pub const RAW_EXTENSIONS: &[&str] = &[
    "dng", "cr2", "cr3", "crw", "nef", "nrw", "arw", "srf", "sr2", "orf", "rw2", "raf", "pef",
    "srw", "x3f", "mrw", "3fr", "iiq", "erf", "kdc", "dcr", "mos", "rwl",
];

/// Extensions of the rendered files a RAW pairs with (lower case).
pub const RENDERED_EXTENSIONS: &[&str] = &["jpg", "jpeg", "heic", "heif", "hif"];

fn extension_in(path: &Path, list: &[&str]) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| list.iter().any(|known| e.eq_ignore_ascii_case(known)))
}

/// Whether the name is a camera RAW's.
pub fn is_raw_name(path: &Path) -> bool {
    extension_in(path, RAW_EXTENSIONS)
}

/// Whether the name is one a RAW can be the original of.
pub fn is_rendered_name(path: &Path) -> bool {
    extension_in(path, RENDERED_EXTENSIONS)
}

/// What two paired files share: folder and lower-case name without the extension.
pub fn pairing_key(path: &Path) -> Option<(PathBuf, String)> {
    let stem = path.file_stem()?.to_string_lossy().to_lowercase();
    Some((path.parent()?.to_path_buf(), stem))
}

/// The RAW original of a rendered file, looked up on disk (any RAW extension, lower or upper
/// case); `None` for a file that is itself a RAW or has no RAW beside it.
pub fn raw_original_on_disk(rendered: &Path) -> Option<PathBuf> {
    if !is_rendered_name(rendered) {
        return None;
    }
    let stem = rendered.file_stem()?.to_string_lossy().into_owned();
    let folder = rendered.parent()?;
    RAW_EXTENSIONS.iter().find_map(|extension| {
        [extension.to_string(), extension.to_uppercase()]
            .into_iter()
            .map(|e| folder.join(format!("{stem}.{e}")))
            .find(|candidate| candidate.is_file())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_by_folder_and_name() {
        let dir = tempfile::tempdir().unwrap();
        let jpeg = dir.path().join("IMG_0001.JPG");
        std::fs::write(&jpeg, b"j").unwrap();
        assert_eq!(raw_original_on_disk(&jpeg), None);
        let raw = dir.path().join("IMG_0001.CR3");
        std::fs::write(&raw, b"r").unwrap();
        assert_eq!(raw_original_on_disk(&jpeg), Some(raw.clone()));
        assert_eq!(
            raw_original_on_disk(&raw),
            None,
            "a RAW has no RAW original"
        );
        assert_eq!(
            pairing_key(&jpeg),
            pairing_key(&dir.path().join("img_0001.dng"))
        );
        assert!(is_raw_name(&raw) && !is_raw_name(&jpeg) && is_rendered_name(&jpeg));
    }
}
