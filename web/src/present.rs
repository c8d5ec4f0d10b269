//! The JSON the API answers with (schemas `Hit`, `SearchResponse`, `ImageInfo`, `Facets`,
//! `Status`, `Duplicates` of `web/openapi.json`), built from catalog records.
//!
//! Field names follow the contract exactly, and the UI depends on them. Every string from the
//! library (file names, folders, EXIF) is passed through as JSON text; the UI only ever puts it in
//! the page as text, so no HTML escaping happens here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use magpie_catalog::ImageRecord;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct HitJson {
    pub id: u64,
    pub score: f32,
    pub path: String,
    pub name: String,
    pub folder: String,
    pub taken_at: Option<String>,
    pub width: u32,
    pub height: u32,
    pub camera: Option<String>,
    pub thumbnail_url: String,
    pub preview_url: String,
    /// How it matched: `meaning`, `name` (file name, path, metadata), `text` (printed in the
    /// image). Empty when browsing without a query.
    pub matched: Vec<&'static str>,
    /// The lines of text in the image that hold a query word, with their boxes, when it matched
    /// by text.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub text_matches: Vec<TextLineJson>,
}

/// One line of text read in an image (OCR).
#[derive(Debug, Clone, Serialize)]
pub struct TextLineJson {
    pub text: String,
    pub confidence: f32,
    /// Top-left, top-right, bottom-right, bottom-left, in the pixels of the image as displayed
    /// (`width` × `height`).
    pub corners: [[f32; 2]; 4],
}

impl TextLineJson {
    fn of(line: &magpie_catalog::TextLine) -> Self {
        Self {
            text: line.text.clone(),
            confidence: if line.confidence.is_finite() {
                line.confidence
            } else {
                0.0
            },
            corners: line.corners,
        }
    }
}

/// What OCR read in an image.
#[derive(Debug, Clone, Serialize)]
pub struct ImageTextJson {
    pub lines: Vec<TextLineJson>,
    pub model: String,
    pub read_at: String,
    /// Text regions left unread by the detector's cap.
    pub dropped_regions: usize,
    /// Why the image could not be read, when it could not.
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SearchPage {
    pub hits: Vec<HitJson>,
    pub total: usize,
    pub offset: usize,
    pub limit: usize,
    pub took_ms: f64,
    pub cutoff_score: Option<f32>,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Gps {
    pub lat: f64,
    pub lon: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ImageInfo {
    pub id: u64,
    pub path: String,
    pub name: String,
    pub folder: String,
    pub size: u64,
    pub width: u32,
    pub height: u32,
    pub format: String,
    pub taken_at: Option<String>,
    pub mtime: String,
    pub camera_make: Option<String>,
    pub camera_model: Option<String>,
    pub lens: Option<String>,
    pub gps: Option<Gps>,
    pub orientation: u16,
    pub tags: Vec<String>,
    pub thumbnail_url: String,
    pub preview_url: String,
    pub original_url: String,
    /// The camera RAW beside a JPEG of the same name (the photo's real original), when there is
    /// one; filled in by the `/api/images/{id}` handler, which looks on disk.
    pub raw_original_url: Option<String>,
    /// The text read in the image (OCR); null until the OCR stage has read it.
    pub text: Option<ImageTextJson>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FolderCount {
    pub path: String,
    pub count: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct CameraCount {
    pub name: String,
    pub count: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct TagCount {
    pub tag: String,
    pub count: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct DateRange {
    pub first: Option<String>,
    pub last: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Facets {
    pub folders: Vec<FolderCount>,
    pub cameras: Vec<CameraCount>,
    pub tags: Vec<TagCount>,
    pub date_range: DateRange,
}

#[derive(Debug, Clone, Serialize)]
pub struct ModelInfo {
    pub name: String,
    pub dim: usize,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Indexing {
    pub active: bool,
    pub processed: u64,
    pub total: u64,
    pub images_per_sec: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub images: u64,
    pub failures: u64,
    pub model: ModelInfo,
    pub format_version: u32,
    pub generation: u64,
    pub indexing: Indexing,
}

#[derive(Debug, Clone, Serialize)]
pub struct DupeGroupJson {
    pub ids: Vec<u64>,
    pub size: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Duplicates {
    pub groups: Vec<DupeGroupJson>,
}

/// The three image URLs; ids only, never paths.
pub fn thumbnail_url(id: u64) -> String {
    format!("/api/images/{id}/thumbnail")
}
pub fn preview_url(id: u64) -> String {
    format!("/api/images/{id}/preview")
}
pub fn original_url(id: u64) -> String {
    format!("/api/images/{id}/original")
}
pub fn raw_original_url(id: u64) -> String {
    format!("/api/images/{id}/raw")
}

/// The folder of `record` relative to the library root, `/`-separated, without a leading slash
/// (empty for the root itself).
pub fn relative_folder(record: &ImageRecord, root: &Path) -> String {
    relative_path(record.folder(), root)
}

/// `folder` below `root`, as `/`-joined names ("" for the root itself).
fn relative_path(folder: &Path, root: &Path) -> String {
    let relative = folder.strip_prefix(root).unwrap_or(folder);
    let parts: Vec<String> = relative
        .components()
        .filter_map(|c| match c {
            std::path::Component::Normal(part) => Some(part.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    parts.join("/")
}

fn non_empty(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

/// "make model", or `None` when EXIF names no camera.
pub fn camera_name(record: &ImageRecord) -> Option<String> {
    let camera = record.camera();
    (!camera.is_empty()).then_some(camera)
}

/// A hit; `matched` says how it matched, and `query_words` pick the lines of text to show when it
/// matched by text.
pub fn hit_json(
    record: &ImageRecord,
    score: f32,
    root: &Path,
    matched: Vec<&'static str>,
    query_words: &[String],
) -> HitJson {
    let text_matches = match (&record.text, matched.contains(&"text")) {
        (Some(text), true) => text
            .lines_with_words(query_words)
            .map(TextLineJson::of)
            .collect(),
        _ => Vec::new(),
    };
    HitJson {
        id: record.id,
        score: if score.is_finite() { score } else { 0.0 },
        path: record.path.to_string_lossy().into_owned(),
        name: record.file_name(),
        folder: relative_folder(record, root),
        taken_at: record.exif.taken_at.map(rfc3339),
        width: record.width.max(1),
        height: record.height.max(1),
        camera: camera_name(record),
        thumbnail_url: thumbnail_url(record.id),
        preview_url: preview_url(record.id),
        matched,
        text_matches,
    }
}

pub fn image_info(record: &ImageRecord, root: &Path) -> ImageInfo {
    let gps = record
        .exif
        .gps
        .filter(|(lat, lon)| (-90.0..=90.0).contains(lat) && (-180.0..=180.0).contains(lon))
        .map(|(lat, lon)| Gps { lat, lon });
    let orientation = record
        .exif
        .orientation
        .filter(|o| (1..=8).contains(o))
        .unwrap_or(1);
    ImageInfo {
        id: record.id,
        path: record.path.to_string_lossy().into_owned(),
        name: record.file_name(),
        folder: relative_folder(record, root),
        size: record.size,
        width: record.width.max(1),
        height: record.height.max(1),
        format: record.format.to_lowercase(),
        taken_at: record.exif.taken_at.map(rfc3339),
        mtime: rfc3339(record.mtime_ns.div_euclid(1_000_000_000)),
        camera_make: non_empty(&record.exif.make),
        camera_model: non_empty(&record.exif.model),
        lens: non_empty(&record.exif.lens),
        gps,
        orientation,
        tags: record.tags.clone(),
        thumbnail_url: thumbnail_url(record.id),
        preview_url: preview_url(record.id),
        original_url: original_url(record.id),
        raw_original_url: None,
        text: record.text.as_ref().map(|t| ImageTextJson {
            lines: t.lines.iter().map(TextLineJson::of).collect(),
            model: t.model.clone(),
            read_at: rfc3339(t.read_at),
            dropped_regions: t.dropped_regions,
            error: t.error.clone(),
        }),
    }
}

/// The deepest folder holding every one of `folders`: what "relative to the library root" is
/// relative to.
fn common_root<'a>(folders: impl IntoIterator<Item = &'a Path>) -> PathBuf {
    let mut root: Option<PathBuf> = None;
    for folder in folders {
        root = Some(match root {
            None => folder.to_path_buf(),
            Some(current) => {
                let mut shared = PathBuf::new();
                for (a, b) in current.components().zip(folder.components()) {
                    if a != b {
                        break;
                    }
                    shared.push(a);
                }
                shared
            }
        });
    }
    root.unwrap_or_default()
}

/// Facets over every record, gathered in one pass that holds only the counts: folders stay
/// absolute until every record has been seen, since the root they are relative to depends on
/// all of them.
#[derive(Debug, Default)]
pub struct FacetCounter {
    folders: BTreeMap<PathBuf, u64>,
    cameras: BTreeMap<String, u64>,
    tags: BTreeMap<String, u64>,
    first: Option<i64>,
    last: Option<i64>,
}

impl FacetCounter {
    pub fn add(&mut self, record: &ImageRecord) {
        *self
            .folders
            .entry(record.folder().to_path_buf())
            .or_default() += 1;
        if let Some(camera) = camera_name(record) {
            *self.cameras.entry(camera).or_default() += 1;
        }
        for tag in &record.tags {
            *self.tags.entry(tag.clone()).or_default() += 1;
        }
        if let Some(taken) = record.exif.taken_at {
            self.first = Some(self.first.map_or(taken, |f| f.min(taken)));
            self.last = Some(self.last.map_or(taken, |l| l.max(taken)));
        }
    }

    /// The records' common root, and the facets with folders relative to it.
    pub fn finish(self) -> (PathBuf, Facets) {
        let root = common_root(self.folders.keys().map(PathBuf::as_path));
        let mut folders: BTreeMap<String, u64> = BTreeMap::new();
        for (folder, count) in self.folders {
            *folders.entry(relative_path(&folder, &root)).or_default() += count;
        }
        let by_count_then_name =
            |a: &(String, u64), b: &(String, u64)| b.1.cmp(&a.1).then(a.0.cmp(&b.0));
        let mut cameras: Vec<(String, u64)> = self.cameras.into_iter().collect();
        cameras.sort_by(by_count_then_name);
        let mut tags: Vec<(String, u64)> = self.tags.into_iter().collect();
        tags.sort_by(by_count_then_name);
        let facets = Facets {
            folders: folders
                .into_iter()
                .map(|(path, count)| FolderCount { path, count })
                .collect(),
            cameras: cameras
                .into_iter()
                .map(|(name, count)| CameraCount { name, count })
                .collect(),
            tags: tags
                .into_iter()
                .map(|(tag, count)| TagCount { tag, count })
                .collect(),
            date_range: DateRange {
                first: self.first.map(rfc3339),
                last: self.last.map(rfc3339),
            },
        };
        (root, facets)
    }
}

/// Unix seconds as RFC 3339 UTC (`2023-04-02T09:14:03Z`). The catalog stores camera time without
/// an offset as if it were UTC, so this shows the camera's own clock for those.
pub fn rfc3339(unix_seconds: i64) -> String {
    let days = unix_seconds.div_euclid(86_400);
    let secs = unix_seconds.rem_euclid(86_400);
    let (year, month, day) = magpie_catalog::dates::civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        (secs % 3600) / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(path: &str) -> ImageRecord {
        ImageRecord {
            id: 7,
            path: PathBuf::from(path),
            size: 10,
            mtime_ns: 1_700_000_000_000_000_000,
            content_hash: "ab".repeat(32),
            width: 40,
            height: 30,
            format: "png".into(),
            exif: Default::default(),
            tags: vec![],
            indexed_at: 0,
            text: None,
        }
    }

    #[test]
    fn dates_are_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_625_401_805), "2021-07-04T12:30:05Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn folders_are_relative_to_the_common_root() {
        let records = [
            record("/photos/2023/lisbon/a.png"),
            record("/photos/2023/b.png"),
            record("/photos/2024/x/c.png"),
        ];
        let mut counter = FacetCounter::default();
        records.iter().for_each(|r| counter.add(r));
        let (root, facets) = counter.finish();
        assert_eq!(root, PathBuf::from("/photos"));
        assert_eq!(relative_folder(&records[0], &root), "2023/lisbon");
        let paths: Vec<&str> = facets.folders.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["2023", "2023/lisbon", "2024/x"]);
        assert_eq!(relative_folder(&records[1], Path::new("/photos/2023")), "");
    }

    #[test]
    fn hits_have_the_contract_fields() {
        let json = serde_json::to_value(hit_json(
            &record("/p/a.png"),
            0.5,
            Path::new("/p"),
            vec!["meaning"],
            &[],
        ))
        .unwrap();
        let mut keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "camera",
                "folder",
                "height",
                "id",
                "matched",
                "name",
                "path",
                "preview_url",
                "score",
                "taken_at",
                "thumbnail_url",
                "width"
            ]
        );
        assert_eq!(json["thumbnail_url"], "/api/images/7/thumbnail");
    }

    #[test]
    fn a_hit_matched_by_text_carries_the_lines_that_hold_the_query_words() {
        let mut r = record("/p/sign.png");
        r.text = Some(magpie_catalog::ImageText {
            lines: vec![
                magpie_catalog::TextLine {
                    text: "COMETZEPHYRSPARROW".into(),
                    confidence: 0.97,
                    corners: [[1.0, 2.0], [30.0, 2.0], [30.0, 9.0], [1.0, 9.0]],
                },
                magpie_catalog::TextLine {
                    text: "Exit".into(),
                    confidence: 0.9,
                    corners: [[0.0; 2]; 4],
                },
            ],
            ..Default::default()
        });
        let words = magpie_catalog::words::text_words("zephyr");
        let hit = hit_json(&r, 0.5, Path::new("/p"), vec!["meaning", "text"], &words);
        assert_eq!(hit.text_matches.len(), 1);
        assert_eq!(hit.text_matches[0].text, "COMETZEPHYRSPARROW");
        assert_eq!(hit.text_matches[0].corners[1], [30.0, 2.0]);
        let by_meaning = hit_json(&r, 0.5, Path::new("/p"), vec!["meaning"], &words);
        assert!(by_meaning.text_matches.is_empty());
        let info = serde_json::to_value(image_info(&r, Path::new("/p"))).unwrap();
        assert_eq!(info["text"]["lines"][1]["text"], "Exit");
    }
}
