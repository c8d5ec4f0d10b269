//! What the library knows about one image. Serialised as JSON in sled (the source of truth) and as
//! a stored field in tantivy (so readers in other processes can show results without sled).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Stable identifier of an image in one library. Below 2^53 so that JavaScript holds it exactly.
pub type ImageId = u64;

/// The embedding space a library belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelIdentity {
    pub name: String,
    pub checksum: String,
    pub dim: usize,
}

/// Best-effort EXIF facts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExifFields {
    /// Unix seconds (UTC when the camera said which offset it was in, else local time as UTC).
    pub taken_at: Option<i64>,
    pub make: Option<String>,
    pub model: Option<String>,
    pub lens: Option<String>,
    /// (latitude, longitude) in signed decimal degrees.
    pub gps: Option<(f64, f64)>,
    pub orientation: Option<u16>,
}

/// One indexed image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageRecord {
    pub id: ImageId,
    /// Raw path bytes, so non-UTF-8 file names survive.
    #[serde(with = "path_bytes")]
    pub path: PathBuf,
    pub size: u64,
    pub mtime_ns: i64,
    /// blake3 of the file content, hex.
    pub content_hash: String,
    /// Displayed size (after EXIF orientation).
    pub width: u32,
    pub height: u32,
    /// Lower-case format name: jpeg, png, webp, gif, tiff, bmp.
    pub format: String,
    #[serde(default)]
    pub exif: ExifFields,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Unix seconds when it was (re-)embedded.
    #[serde(default)]
    pub indexed_at: i64,
    /// The words read in the image by OCR; `None` until the OCR stage has read it (a new or
    /// changed file starts without, which is what makes that stage incremental).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<ImageText>,
}

/// What OCR read in one image: lines in reading order, each with its box and confidence.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ImageText {
    pub lines: Vec<TextLine>,
    /// Text regions the detector found beyond its cap and did not read (0 for almost every
    /// image; a page of tiny print says how much it left out).
    pub dropped_regions: usize,
    /// The OCR model that read it (`PP-OCRv4`), so a better model can re-read later.
    pub model: String,
    /// Unix seconds when it was read.
    pub read_at: i64,
    /// Why the image could not be read (it is then not retried until the file changes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One line of recognised text.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TextLine {
    pub text: String,
    /// Mean probability of the line's characters, 0–1.
    pub confidence: f32,
    /// Top-left, top-right, bottom-right, bottom-left corners in the displayed image's pixels
    /// (after EXIF orientation, the frame the thumbnails and the lightbox show).
    pub corners: [[f32; 2]; 4],
}

/// A line of fewer letters and digits than this counts as text only when read this surely.
const STRAY_MARK_CHARS: usize = 2;
const STRAY_MARK_CONFIDENCE: f32 = 0.8;

impl TextLine {
    /// Whether the line is text rather than a stray mark: at least two letters or digits, or one
    /// read with confidence 0.8 or more (a "7" on a door, an "A" on a sign).
    pub fn is_text(&self) -> bool {
        let alphanumeric = self.text.chars().filter(|c| c.is_alphanumeric()).count();
        alphanumeric >= STRAY_MARK_CHARS
            || (alphanumeric > 0 && self.confidence >= STRAY_MARK_CONFIDENCE)
    }
}

impl ImageText {
    /// All the text, one line per line.
    pub fn joined(&self) -> String {
        self.lines
            .iter()
            .map(|l| l.text.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Whether OCR found no text worth the name: no line, or only stray marks — PP-OCR reads a
    /// lone "O" or "I" at confidence 0.5–0.6 in some plain photos, and such a photo is not one
    /// "with text" (`has-text`, the stats). The lines stay stored and searchable either way.
    pub fn is_empty(&self) -> bool {
        !self.lines.iter().any(TextLine::is_text)
    }

    /// The lines holding one of `words` ([`crate::words::text_words`] words), whole or inside a
    /// run-together word: why an image matched a search by text.
    pub fn lines_with_words<'a>(
        &'a self,
        words: &'a [String],
    ) -> impl Iterator<Item = &'a TextLine> + 'a {
        self.lines.iter().filter(move |l| {
            words
                .iter()
                .any(|w| crate::words::text_has_word(&l.text, w))
        })
    }
}

impl ImageRecord {
    pub fn file_name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    pub fn folder(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new(""))
    }

    pub fn extension(&self) -> String {
        self.path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default()
    }

    /// The date a person means by "when": taken-at, falling back to the file's mtime.
    pub fn date(&self) -> i64 {
        self.exif
            .taken_at
            .unwrap_or(self.mtime_ns.div_euclid(1_000_000_000))
    }

    /// Width × height as displayed.
    pub fn pixel_count(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }

    pub fn orientation(&self) -> Orientation {
        match self.width.cmp(&self.height) {
            std::cmp::Ordering::Greater => Orientation::Landscape,
            std::cmp::Ordering::Less => Orientation::Portrait,
            std::cmp::Ordering::Equal => Orientation::Square,
        }
    }

    /// Whether OCR found any text in the image (false also when it has not read it yet).
    pub fn has_text(&self) -> bool {
        self.text.as_ref().is_some_and(|t| !t.is_empty())
    }

    pub fn camera(&self) -> String {
        let make = self.exif.make.as_deref().unwrap_or("").trim();
        let model = self.exif.model.as_deref().unwrap_or("").trim();
        if model.to_lowercase().starts_with(&make.to_lowercase()) {
            model.to_string()
        } else {
            format!("{make} {model}").trim().to_string()
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Orientation {
    Landscape,
    Portrait,
    Square,
}

impl Orientation {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Landscape => "landscape",
            Self::Portrait => "portrait",
            Self::Square => "square",
        }
    }
}

impl std::str::FromStr for Orientation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "landscape" => Ok(Self::Landscape),
            "portrait" => Ok(Self::Portrait),
            "square" => Ok(Self::Square),
            other => Err(format!(
                "unknown orientation {other:?} (landscape, portrait or square)"
            )),
        }
    }
}

/// A file that could not be indexed, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    #[serde(with = "path_bytes")]
    pub path: PathBuf,
    pub reason: String,
    pub size: u64,
    pub mtime_ns: i64,
    pub at: i64,
}

/// Paths as byte arrays in JSON: lossless for non-UTF-8 names on Unix.
pub(crate) mod path_bytes {
    use std::path::PathBuf;

    use serde::{Deserialize, Deserializer, Serializer};

    // serde's `with` hands the field itself, a `&PathBuf`.
    #[allow(clippy::ptr_arg)]
    pub fn serialize<S: Serializer>(path: &PathBuf, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&super::path_to_bytes(path))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<PathBuf, D::Error> {
        let bytes = Vec::<u8>::deserialize(d)?;
        Ok(super::bytes_to_path(&bytes))
    }
}

pub fn path_to_bytes(path: &Path) -> Vec<u8> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        path.as_os_str().as_bytes().to_vec()
    }
    #[cfg(not(unix))]
    {
        path.to_string_lossy().as_bytes().to_vec()
    }
}

pub fn bytes_to_path(bytes: &[u8]) -> PathBuf {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        PathBuf::from(std::ffi::OsStr::from_bytes(bytes))
    }
    #[cfg(not(unix))]
    {
        PathBuf::from(String::from_utf8_lossy(bytes).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(text: &str, confidence: f32) -> TextLine {
        TextLine {
            text: text.into(),
            confidence,
            corners: [[0.0; 2]; 4],
        }
    }

    #[test]
    fn stray_marks_do_not_make_an_image_one_with_text() {
        let text = |lines: Vec<TextLine>| ImageText {
            lines,
            ..ImageText::default()
        };
        assert!(text(vec![]).is_empty());
        assert!(text(vec![line("O", 0.55), line("·", 0.9)]).is_empty());
        assert!(!text(vec![line("O", 0.55), line("7", 0.93)]).is_empty());
        assert!(!text(vec![line("EXIT", 0.6)]).is_empty());
    }
}
