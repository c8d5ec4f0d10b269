//! Metadata filters: which images a search may return.
//!
//! The library's keyword index turns these into the allowed id set; [`Filters::matches`] states
//! the same decision over plain metadata for exact scans and tests. [`Filters::set`] parses the
//! CLI's `--filter key=value` pairs and rejects unknown keys; JSON rejects unknown fields.
//! (Mirrors `magpie_catalog::Filters`, to be reconciled when the crates are wired together.)

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Orientation {
    Landscape,
    Portrait,
    Square,
}

impl Orientation {
    pub fn of(width: u32, height: u32) -> Self {
        match width.cmp(&height) {
            std::cmp::Ordering::Greater => Self::Landscape,
            std::cmp::Ordering::Less => Self::Portrait,
            std::cmp::Ordering::Equal => Self::Square,
        }
    }
}

/// The filter keys [`Filters::set`] accepts.
pub const FILTER_KEYS: [&str; 8] = [
    "folder",
    "after",
    "before",
    "camera",
    "type",
    "min-pixels",
    "orientation",
    "tag",
];

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

/// All present conditions must hold.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Filters {
    pub folder_prefix: Option<PathBuf>,
    /// Unix seconds, inclusive (taken-at, falling back to mtime).
    pub taken_after: Option<i64>,
    /// Unix seconds, inclusive.
    pub taken_before: Option<i64>,
    /// Words that must all appear in "make model", case-insensitively.
    pub camera: Option<String>,
    /// File extensions without the dot, case-insensitive; any may match.
    pub extensions: Vec<String>,
    pub min_pixels: Option<u64>,
    pub orientation: Option<Orientation>,
    /// Tags that must all be present.
    pub tags: Vec<String>,
}

/// The metadata of one image that filters look at.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImageFacts {
    pub path: PathBuf,
    /// Taken-at, falling back to mtime; Unix seconds.
    pub date: Option<i64>,
    /// "make model".
    pub camera: String,
    pub width: u32,
    pub height: u32,
    pub tags: Vec<String>,
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
            "camera" => self.camera = Some(value.to_string()),
            "type" => self
                .extensions
                .push(value.trim_start_matches('.').to_lowercase()),
            "min-pixels" => {
                self.min_pixels = Some(parse_pixels(value).ok_or_else(|| {
                    invalid("expected a pixel count (e.g. 2000000) or WIDTHxHEIGHT")
                })?)
            }
            "orientation" => {
                self.orientation = Some(match value.to_lowercase().as_str() {
                    "landscape" => Orientation::Landscape,
                    "portrait" => Orientation::Portrait,
                    "square" => Orientation::Square,
                    _ => return Err(invalid("expected landscape, portrait or square")),
                })
            }
            "tag" => self.tags.push(value.to_string()),
            _ => {
                return Err(FilterError::UnknownFilter {
                    key: key.to_string(),
                })
            }
        }
        Ok(())
    }

    /// Applies `key=value`.
    pub fn set_pair(&mut self, pair: &str) -> Result<(), FilterError> {
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| FilterError::NotKeyValue(pair.to_string()))?;
        self.set(key.trim(), value)
    }

    pub fn matches(&self, image: &ImageFacts) -> bool {
        if let Some(prefix) = &self.folder_prefix {
            if !image.path.starts_with(prefix) {
                return false;
            }
        }
        if self.taken_after.is_some() || self.taken_before.is_some() {
            let Some(date) = image.date else {
                return false;
            };
            if self.taken_after.is_some_and(|t| date < t)
                || self.taken_before.is_some_and(|t| date > t)
            {
                return false;
            }
        }
        if let Some(camera) = &self.camera {
            let have = image.camera.to_lowercase();
            if !camera
                .to_lowercase()
                .split_whitespace()
                .all(|w| have.contains(w))
            {
                return false;
            }
        }
        if !self.extensions.is_empty() {
            let extension = extension_of(&image.path);
            if !self
                .extensions
                .iter()
                .any(|e| e.eq_ignore_ascii_case(&extension))
            {
                return false;
            }
        }
        if self
            .min_pixels
            .is_some_and(|m| u64::from(image.width) * u64::from(image.height) < m)
        {
            return false;
        }
        if self
            .orientation
            .is_some_and(|o| o != Orientation::of(image.width, image.height))
        {
            return false;
        }
        self.tags
            .iter()
            .all(|t| image.tags.iter().any(|have| have.eq_ignore_ascii_case(t)))
    }
}

fn extension_of(path: &Path) -> String {
    path.extension()
        .map(|e| e.to_string_lossy().to_lowercase())
        .unwrap_or_default()
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
fn parse_date(value: &str, end_of_day: bool) -> Option<i64> {
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
    let start = days_from_civil(year, month, day) * 86_400;
    Some(if end_of_day { start + 86_399 } else { start })
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year =
        (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn photo() -> ImageFacts {
        ImageFacts {
            path: PathBuf::from("/photos/2023/lisbon/IMG_2041.JPG"),
            date: Some(parse_date("2023-06-15", false).unwrap() + 3600),
            camera: "Canon EOS R5".into(),
            width: 4000,
            height: 3000,
            tags: vec!["Beach".into()],
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
        let facts = photo();
        let cases: [(&str, &str, bool); 14] = [
            ("folder", "/photos/2023", true),
            ("folder", "/photos/2022", false),
            ("after", "2023-06-15", true),
            ("after", "2023-06-16", false),
            ("before", "2023-06-15", true),
            ("before", "2023-06-14", false),
            ("camera", "canon r5", true),
            ("camera", "nikon", false),
            ("type", ".jpg", true),
            ("type", "png", false),
            ("min-pixels", "4000x3000", true),
            ("min-pixels", "12000001", false),
            ("orientation", "landscape", true),
            ("tag", "beach", true),
        ];
        for (key, value, expected) in cases {
            let mut filters = Filters::default();
            filters.set(key, value).unwrap();
            assert_eq!(filters.matches(&facts), expected, "{key}={value}");
        }
        let mut filters = Filters::default();
        filters.set_pair("orientation=portrait").unwrap();
        assert!(!filters.matches(&facts));
    }

    #[test]
    fn date_filters_exclude_undated_images() {
        let mut filters = Filters::default();
        filters.set("after", "2000-01-01").unwrap();
        let undated = ImageFacts {
            date: None,
            ..photo()
        };
        assert!(!filters.matches(&undated));
        assert!(Filters::default().matches(&undated));
    }

    #[test]
    fn unknown_and_malformed_filters_are_errors() {
        let mut filters = Filters::default();
        assert!(matches!(
            filters.set("colour", "red"),
            Err(FilterError::UnknownFilter { .. })
        ));
        assert!(matches!(
            filters.set("orientation", "diagonal"),
            Err(FilterError::InvalidValue { .. })
        ));
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
