//! Metadata filters: which images a search may return. The one definition in Magpie.
//!
//! A filter is parsed once ([`Filters::set`] for the CLI's and API's `key=value` pairs, serde for
//! JSON), and decided in two places that must agree: the keyword index turns it into a tantivy
//! query (`text.rs`, for the allowed-id sets of real libraries), and [`Filters::matches`] decides
//! it over a plain [`ImageRecord`] (exact scans, in-memory indexes, remote backends that receive
//! records). Both take their notion of each condition from the functions here — the folder's
//! components, the camera's words (tantivy's own default tokenizer), the extension and tag keys —
//! so they cannot drift apart again; `tests/filters_agree.rs` holds them to it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::record::{ImageRecord, Orientation};

/// The filter keys [`Filters::set`] accepts.
pub const FILTER_KEYS: [&str; 10] = [
    "folder",
    "after",
    "before",
    "camera",
    "type",
    "min-pixels",
    "orientation",
    "tag",
    "text",
    "has-text",
];

/// A filter that cannot be parsed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FilterError {
    #[error("unknown filter {key:?}; known filters: {}", FILTER_KEYS.join(", "))]
    UnknownFilter { key: String },
    #[error("filter {key}={value:?}: {reason}")]
    InvalidValue {
        key: String,
        value: String,
        reason: String,
    },
    #[error("filter {0:?} is not of the form key=value")]
    NotKeyValue(String),
}

/// Metadata filters. All present conditions must hold.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Filters {
    /// Images in this folder or below it (compared by path components).
    pub folder_prefix: Option<PathBuf>,
    /// Unix seconds, inclusive, against [`ImageRecord::date`] (taken-at, else the file's mtime:
    /// every indexed image has a date).
    pub taken_after: Option<i64>,
    /// Unix seconds, inclusive.
    pub taken_before: Option<i64>,
    /// Words that must all be words of "make model" ([`camera_words`]).
    pub camera: Option<String>,
    /// File extensions, with or without the dot, any case; any may match.
    pub extensions: Vec<String>,
    pub min_pixels: Option<u64>,
    pub orientation: Option<Orientation>,
    /// Tags that must all be present (case-insensitive).
    pub tags: Vec<String>,
    /// Words that must all be in the text read in the image (OCR), as words or as parts of
    /// run-together words ([`crate::words`]).
    pub text: Option<String>,
    /// Only images in which OCR found text (`true`), or only those in which it found none or has
    /// not read yet (`false`).
    pub has_text: Option<bool>,
}

impl Filters {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Applies one `key=value` pair (`--filter folder=/photos/2023`). Dates are `YYYY-MM-DD`
    /// (UTC; `before` includes the whole day) or Unix seconds; `type` and `tag` may repeat.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), FilterError> {
        let invalid = |reason: &str| FilterError::InvalidValue {
            key: key.to_string(),
            value: value.to_string(),
            reason: reason.to_string(),
        };
        let value = value.trim();
        if value.is_empty() {
            return Err(invalid("empty value"));
        }
        match key {
            "folder" => self.folder_prefix = Some(PathBuf::from(value)),
            "after" => {
                self.taken_after = Some(
                    parse_date(value, false)
                        .ok_or_else(|| invalid("expected YYYY-MM-DD or Unix seconds"))?,
                )
            }
            "before" => {
                self.taken_before = Some(
                    parse_date(value, true)
                        .ok_or_else(|| invalid("expected YYYY-MM-DD or Unix seconds"))?,
                )
            }
            "camera" => {
                if camera_words(value).is_empty() {
                    return Err(invalid("no letters or digits to match"));
                }
                self.camera = Some(value.to_string())
            }
            "type" => {
                let key = extension_key(value);
                if key.is_empty() {
                    return Err(invalid("expected a file extension such as jpg"));
                }
                self.extensions.push(key)
            }
            "min-pixels" => {
                self.min_pixels = Some(parse_pixels(value).ok_or_else(|| {
                    invalid("expected a pixel count (e.g. 2000000) or WIDTHxHEIGHT")
                })?)
            }
            "orientation" => {
                self.orientation = Some(
                    value
                        .to_lowercase()
                        .parse()
                        .map_err(|_| invalid("expected landscape, portrait or square"))?,
                )
            }
            "tag" => self.tags.push(value.to_string()),
            "text" => {
                if crate::words::text_words(value).is_empty() {
                    return Err(invalid("no letters or digits to match"));
                }
                self.text = Some(value.to_string())
            }
            "has-text" => {
                self.has_text = Some(match value.to_lowercase().as_str() {
                    "yes" | "true" | "1" => true,
                    "no" | "false" | "0" => false,
                    _ => return Err(invalid("expected yes or no")),
                })
            }
            _ => {
                return Err(FilterError::UnknownFilter {
                    key: key.to_string(),
                })
            }
        }
        Ok(())
    }

    /// Applies `key=value`; a bare `has-text` means `has-text=yes`.
    pub fn set_pair(&mut self, pair: &str) -> Result<(), FilterError> {
        if pair.trim() == "has-text" {
            return self.set("has-text", "yes");
        }
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| FilterError::NotKeyValue(pair.to_string()))?;
        self.set(key.trim(), value)
    }

    /// The folder condition as path components; `None` when there is none (or it is `/`).
    pub fn folder_components(&self) -> Option<Vec<String>> {
        self.folder_prefix
            .as_deref()
            .map(path_components)
            .filter(|parts| !parts.is_empty())
    }

    /// The camera condition as the words that must all be present.
    pub fn camera_words(&self) -> Vec<String> {
        self.camera.as_deref().map(camera_words).unwrap_or_default()
    }

    /// The extension condition as [`extension_key`]s, any of which may match.
    pub fn extension_keys(&self) -> Vec<String> {
        self.extensions
            .iter()
            .map(|e| extension_key(e))
            .filter(|e| !e.is_empty())
            .collect()
    }

    /// The image-text condition as words ([`crate::words::text_words`]), all of which must be
    /// present.
    pub fn text_words(&self) -> Vec<String> {
        self.text
            .as_deref()
            .map(crate::words::text_words)
            .unwrap_or_default()
    }

    /// The tag condition as [`tag_key`]s, all of which must be present.
    pub fn tag_keys(&self) -> Vec<String> {
        self.tags.iter().map(|t| tag_key(t)).collect()
    }

    /// Whether `record` passes every condition — the same decision the keyword index makes.
    pub fn matches(&self, record: &ImageRecord) -> bool {
        if let Some(prefix) = self.folder_components() {
            if !path_components(record.folder()).starts_with(&prefix) {
                return false;
            }
        }
        let date = record.date();
        if self.taken_after.is_some_and(|t| date < t) || self.taken_before.is_some_and(|t| date > t)
        {
            return false;
        }
        let wanted_words = self.camera_words();
        if !wanted_words.is_empty() {
            let have = camera_words(&record.camera());
            if !wanted_words.iter().all(|w| have.contains(w)) {
                return false;
            }
        }
        let extensions = self.extension_keys();
        if !extensions.is_empty() && !extensions.contains(&record.extension()) {
            return false;
        }
        if self.min_pixels.is_some_and(|m| record.pixel_count() < m) {
            return false;
        }
        if self.orientation.is_some_and(|o| o != record.orientation()) {
            return false;
        }
        if self
            .has_text
            .is_some_and(|wanted| wanted != record.has_text())
        {
            return false;
        }
        let wanted_text = self.text_words();
        if !wanted_text.is_empty() {
            let have = record.text.as_ref().map(|t| t.joined()).unwrap_or_default();
            if !wanted_text
                .iter()
                .all(|w| crate::words::text_has_word(&have, w))
            {
                return false;
            }
        }
        let have_tags: Vec<String> = record.tags.iter().map(|t| tag_key(t)).collect();
        self.tag_keys().iter().all(|t| have_tags.contains(t))
    }
}

/// The normal components of a path (no root, `.` or `..`): how folders are compared and indexed.
pub fn path_components(path: &Path) -> Vec<String> {
    path.components()
        .filter_map(|c| match c {
            std::path::Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect()
}

/// The words of a camera name, as tantivy's default analyzer (the one the keyword index uses for
/// its `camera` field) makes them: the same words as image text ([`crate::words::text_words`]).
pub fn camera_words(text: &str) -> Vec<String> {
    crate::words::text_words(text)
}

/// How extensions are compared: without a leading dot, ASCII lower case (as
/// [`ImageRecord::extension`] stores them).
pub fn extension_key(extension: &str) -> String {
    extension
        .trim()
        .trim_start_matches('.')
        .to_ascii_lowercase()
}

/// How tags are compared: lower case.
pub fn tag_key(tag: &str) -> String {
    tag.to_lowercase()
}

fn parse_pixels(value: &str) -> Option<u64> {
    match value.split_once(['x', 'X']) {
        Some((w, h)) => w
            .trim()
            .parse::<u64>()
            .ok()?
            .checked_mul(h.trim().parse().ok()?),
        None => value.parse().ok(),
    }
}

/// `YYYY-MM-DD` (start of day, or its last second when `end_of_day`) or Unix seconds.
pub fn parse_date(value: &str, end_of_day: bool) -> Option<i64> {
    if let Ok(seconds) = value.parse::<i64>() {
        return Some(seconds);
    }
    let mut parts = value.split('-');
    let year: i64 = parts.next()?.parse().ok()?;
    let month: u32 = parts.next()?.parse().ok()?;
    let day: u32 = parts.next()?.parse().ok()?;
    if parts.next().is_some() || !(1..=12).contains(&month) || day == 0 || day > 31 {
        return None;
    }
    let start = crate::dates::days_from_civil(year, month, day) * 86_400;
    Some(if end_of_day { start + 86_399 } else { start })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::ExifFields;

    fn photo() -> ImageRecord {
        ImageRecord {
            id: 1,
            path: PathBuf::from("/photos/2023/lisbon/IMG_2041.JPG"),
            size: 1,
            mtime_ns: 0,
            content_hash: String::new(),
            width: 4000,
            height: 3000,
            format: "jpeg".into(),
            exif: ExifFields {
                taken_at: Some(parse_date("2023-06-15", false).unwrap() + 3600),
                make: Some("Canon".into()),
                model: Some("Canon EOS R5".into()),
                ..ExifFields::default()
            },
            tags: vec!["Beach".into()],
            indexed_at: 0,
            text: None,
        }
    }

    #[test]
    fn dates_parse_as_utc_days() {
        assert_eq!(parse_date("1970-01-01", false), Some(0));
        assert_eq!(parse_date("1970-01-01", true), Some(86_399));
        assert_eq!(parse_date("2000-03-01", false), Some(951_868_800));
        assert_eq!(parse_date("1700000000", false), Some(1_700_000_000));
        assert_eq!(parse_date("2023-13-01", false), None);
        assert_eq!(parse_date("yesterday", false), None);
    }

    #[test]
    fn every_condition_is_checked() {
        let record = photo();
        let cases: [(&str, &str, bool); 17] = [
            ("folder", "/photos/2023", true),
            ("folder", "/photos/2022", false),
            ("folder", "/photos/20", false),
            ("after", "2023-06-15", true),
            ("after", "2023-06-16", false),
            ("before", "2023-06-15", true),
            ("before", "2023-06-14", false),
            ("camera", "canon r5", true),
            ("camera", "EOS-R5", true),
            ("camera", "can", false),
            ("camera", "nikon", false),
            ("type", ".jpg", true),
            ("type", "png", false),
            ("min-pixels", "4000x3000", true),
            ("min-pixels", "12000001", false),
            ("orientation", "landscape", true),
            ("tag", "BEACH", true),
        ];
        for (key, value, expected) in cases {
            let mut filters = Filters::default();
            filters.set(key, value).unwrap();
            assert_eq!(filters.matches(&record), expected, "{key}={value}");
        }
        let mut filters = Filters::default();
        filters.set_pair("orientation=portrait").unwrap();
        assert!(!filters.matches(&record));
    }

    #[test]
    fn images_without_a_taken_at_date_are_dated_by_their_file() {
        let mut filters = Filters::default();
        filters.set("after", "2000-01-01").unwrap();
        let mut undated = photo();
        undated.exif.taken_at = None;
        undated.mtime_ns = 1_600_000_000 * 1_000_000_000;
        assert!(filters.matches(&undated));
        undated.mtime_ns = 900_000_000 * 1_000_000_000;
        assert!(!filters.matches(&undated));
    }

    #[test]
    fn unknown_and_malformed_filters_are_errors() {
        let mut filters = Filters::default();
        assert!(matches!(
            filters.set("colour", "red"),
            Err(FilterError::UnknownFilter { .. })
        ));
        for (key, value) in [
            ("orientation", "diagonal"),
            ("camera", "--"),
            ("type", "."),
            ("min-pixels", "lots"),
        ] {
            assert!(
                matches!(
                    filters.set(key, value),
                    Err(FilterError::InvalidValue { .. })
                ),
                "{key}={value}"
            );
        }
        assert!(matches!(
            filters.set_pair("camera"),
            Err(FilterError::NotKeyValue(_))
        ));
        assert!(serde_json::from_str::<Filters>(r#"{"colour":"red"}"#).is_err());
        assert!(filters.is_empty());
    }

    #[test]
    fn serde_round_trip() {
        let mut filters = Filters::default();
        filters.set("type", "jpg").unwrap();
        filters.set("orientation", "square").unwrap();
        let json = serde_json::to_string(&filters).unwrap();
        assert!(json.contains(r#""orientation":"square""#));
        assert_eq!(serde_json::from_str::<Filters>(&json).unwrap(), filters);
        assert_eq!(
            serde_json::from_str::<Filters>("{}").unwrap(),
            Filters::default()
        );
    }
}
