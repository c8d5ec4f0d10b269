//! Search options from a query string (`GET /api/search`, `/similar`, `/search/image`) or a JSON
//! body (`POST /api/search`), validated against the limits of `web/openapi.json` before anything
//! runs.
//!
//! Query strings are parsed by hand rather than with serde: parameters repeat (`tag=a&tag=b`),
//! unknown or doubled parameters are mistakes worth a 400, and a value that is not UTF-8 after
//! percent-decoding must be rejected rather than silently replaced.

use std::path::Path;

use magpie_searcher::{Filters, SearchMode, SortOrder};
use percent_encoding::percent_decode_str;
use serde::Deserialize;

use crate::error::{ApiError, ApiResult};

/// Longest text query, in characters (Unicode scalar values).
pub const MAX_QUERY_CHARS: usize = 2000;
pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 500;
/// Deeper pages than this are not useful and would make every search rank this many candidates
/// (the searcher's own bound, so the API and the CLI refuse the same offsets).
pub const MAX_OFFSET: usize = magpie_searcher::request::MAX_OFFSET;
pub const MAX_LIKE: usize = 16;
pub const MAX_LIST_ITEMS: usize = 32;
const MAX_TAG_CHARS: usize = 100;
const MAX_TEXT_FILTER_CHARS: usize = 200;
const MAX_EXT_CHARS: usize = 16;
const MAX_CAMERA_CHARS: usize = 200;
const MAX_FOLDER_CHARS: usize = 4096;
/// A query string longer than this is refused before it is even split.
const MAX_QUERY_STRING_BYTES: usize = 256 * 1024;

/// Which parameters a route takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `GET /api/search`: everything.
    Search,
    /// `/api/images/{id}/similar` and `/api/search/image`: everything but `q` and `like` (the
    /// route itself says what to look like; the upload form carries the text).
    Example,
}

/// Filters as the client wrote them; folder prefixes are resolved against the library root later.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FilterInput {
    pub folder: Option<String>,
    pub after: Option<String>,
    pub before: Option<String>,
    pub camera: Option<String>,
    pub extensions: Vec<String>,
    pub min_pixels: Option<u64>,
    pub orientation: Option<String>,
    pub tags: Vec<String>,
    /// Words that must be printed in the image (OCR).
    pub text: Option<String>,
    /// Only images with (true) or without (false) text read in them.
    pub has_text: Option<bool>,
}

/// One validated search, whatever route it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchOptions {
    pub query: String,
    pub like: Vec<u64>,
    pub mode: SearchMode,
    pub sort: SortOrder,
    pub limit: usize,
    pub offset: usize,
    pub min_score: Option<f32>,
    pub raw: bool,
    pub filters: FilterInput,
}

impl Default for SearchOptions {
    fn default() -> Self {
        Self {
            query: String::new(),
            like: Vec::new(),
            mode: SearchMode::default(),
            sort: SortOrder::default(),
            limit: DEFAULT_LIMIT,
            offset: 0,
            min_score: None,
            raw: false,
            filters: FilterInput::default(),
        }
    }
}

/// Splits and percent-decodes `a=1&b=2` (`+` is a space, as browsers send forms).
pub fn parse_pairs(query_string: &str) -> ApiResult<Vec<(String, String)>> {
    if query_string.len() > MAX_QUERY_STRING_BYTES {
        return Err(ApiError::query_too_long(format!(
            "the query string is longer than {MAX_QUERY_STRING_BYTES} bytes"
        )));
    }
    let decode = |part: &str| -> ApiResult<String> {
        let spaced = part.replace('+', " ");
        percent_decode_str(&spaced)
            .decode_utf8()
            .map(|s| s.into_owned())
            .map_err(|_| ApiError::bad_request("the query string is not valid UTF-8"))
    };
    query_string
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((decode(key)?, decode(value)?))
        })
        .collect()
}

fn parse_int(name: &str, value: &str, min: usize, max: usize) -> ApiResult<usize> {
    value
        .trim()
        .parse::<usize>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| {
            ApiError::bad_request(format!("{name} must be an integer from {min} to {max}"))
        })
}

fn parse_bool(name: &str, value: &str) -> ApiResult<bool> {
    match value.trim() {
        "true" | "1" | "" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(ApiError::bad_request(format!(
            "{name} must be true or false"
        ))),
    }
}

fn parse_min_score(value: f32) -> ApiResult<f32> {
    if value.is_finite() && (-1.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(ApiError::bad_request(
            "min_score must be a number from -1 to 1",
        ))
    }
}

fn parse_mode(value: &str) -> ApiResult<SearchMode> {
    value
        .trim()
        .parse()
        .map_err(|_| ApiError::bad_request("mode must be hybrid, vector or keyword"))
}

fn parse_sort(value: &str) -> ApiResult<SortOrder> {
    value
        .trim()
        .parse()
        .map_err(|_| ApiError::bad_request("sort must be relevance or date"))
}

fn parse_id(value: &str) -> ApiResult<u64> {
    value
        .trim()
        .parse::<u64>()
        .ok()
        .filter(|id| *id < (1u64 << 53))
        .ok_or_else(|| ApiError::bad_request("image ids are non-negative integers below 2^53"))
}

fn check_len(name: &str, value: &str, max: usize) -> ApiResult<()> {
    if value.chars().count() > max {
        return Err(ApiError::invalid_filter(format!(
            "{name} is longer than {max} characters"
        )));
    }
    Ok(())
}

fn check_query(query: &str) -> ApiResult<()> {
    if query.chars().count() > MAX_QUERY_CHARS {
        return Err(ApiError::query_too_long(format!(
            "q is longer than {MAX_QUERY_CHARS} characters"
        )));
    }
    Ok(())
}

fn push_item(list: &mut Vec<String>, name: &str, value: &str, max_chars: usize) -> ApiResult<()> {
    check_len(name, value, max_chars)?;
    if list.len() >= MAX_LIST_ITEMS {
        return Err(ApiError::invalid_filter(format!(
            "at most {MAX_LIST_ITEMS} {name} values"
        )));
    }
    if !value.trim().is_empty() {
        list.push(value.to_string());
    }
    Ok(())
}

fn set_once<T>(slot: &mut Option<T>, name: &str, value: T) -> ApiResult<()> {
    if slot.is_some() {
        return Err(ApiError::bad_request(format!(
            "{name} is given more than once"
        )));
    }
    *slot = Some(value);
    Ok(())
}

/// Options from a query string, for `route`.
pub fn options_from_query(query_string: &str, route: Route) -> ApiResult<SearchOptions> {
    let mut options = SearchOptions::default();
    let (mut q, mut mode, mut sort, mut limit, mut offset, mut min_score, mut raw) =
        (None, None, None, None, None, None, None);
    let (mut folder, mut after, mut before, mut camera, mut min_pixels, mut orientation) =
        (None, None, None, None, None, None);
    let (mut text, mut has_text) = (None, None);
    for (key, value) in parse_pairs(query_string)? {
        match key.as_str() {
            "q" if route == Route::Search => {
                check_query(&value)?;
                set_once(&mut q, "q", value)?;
            }
            "like" if route == Route::Search => {
                if options.like.len() >= MAX_LIKE {
                    return Err(ApiError::bad_request(format!("at most {MAX_LIKE} like ids")));
                }
                options.like.push(parse_id(&value)?);
            }
            "mode" => set_once(&mut mode, "mode", parse_mode(&value)?)?,
            "sort" => set_once(&mut sort, "sort", parse_sort(&value)?)?,
            "limit" => set_once(&mut limit, "limit", parse_int("limit", &value, 1, MAX_LIMIT)?)?,
            "offset" => set_once(&mut offset, "offset", parse_int("offset", &value, 0, MAX_OFFSET)?)?,
            "min_score" => {
                let score = value
                    .trim()
                    .parse::<f32>()
                    .map_err(|_| ApiError::bad_request("min_score must be a number from -1 to 1"))?;
                set_once(&mut min_score, "min_score", parse_min_score(score)?)?;
            }
            "raw" => set_once(&mut raw, "raw", parse_bool("raw", &value)?)?,
            "folder" => {
                check_len("folder", &value, MAX_FOLDER_CHARS)?;
                set_once(&mut folder, "folder", value)?;
            }
            "after" => set_once(&mut after, "after", value)?,
            "before" => set_once(&mut before, "before", value)?,
            "camera" => {
                check_len("camera", &value, MAX_CAMERA_CHARS)?;
                set_once(&mut camera, "camera", value)?;
            }
            "min_pixels" => {
                let pixels = value
                    .trim()
                    .parse::<u64>()
                    .map_err(|_| ApiError::invalid_filter("min_pixels must be a non-negative integer"))?;
                set_once(&mut min_pixels, "min_pixels", pixels)?;
            }
            "orientation" => set_once(&mut orientation, "orientation", value)?,
            "tag" => push_item(&mut options.filters.tags, "tag", &value, MAX_TAG_CHARS)?,
            "text" => {
                check_len("text", &value, MAX_TEXT_FILTER_CHARS)?;
                set_once(&mut text, "text", value)?;
            }
            "has_text" => set_once(&mut has_text, "has_text", parse_bool("has_text", &value)?)?,
            "ext" => push_item(&mut options.filters.extensions, "ext", &value, MAX_EXT_CHARS)?,
            "q" | "like" => {
                return Err(ApiError::bad_request(format!(
                    "{key} is not accepted here (an example search takes its text from the form field q)"
                )))
            }
            _ => return Err(ApiError::bad_request(format!("unknown parameter {key:?}"))),
        }
    }
    options.query = q.unwrap_or_default();
    options.mode = mode.unwrap_or_default();
    options.sort = sort.unwrap_or_default();
    options.limit = limit.unwrap_or(DEFAULT_LIMIT);
    options.offset = offset.unwrap_or(0);
    options.min_score = min_score;
    options.raw = raw.unwrap_or(false);
    let blank = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
    options.filters.folder = blank(folder);
    options.filters.after = blank(after);
    options.filters.before = blank(before);
    options.filters.camera = blank(camera);
    options.filters.min_pixels = min_pixels;
    options.filters.orientation = blank(orientation);
    options.filters.text = blank(text);
    options.filters.has_text = has_text;
    Ok(options)
}

/// Body of `POST /api/search` (schema `SearchRequest`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchBody {
    pub query: Option<String>,
    #[serde(default)]
    pub like: Option<Vec<u64>>,
    pub mode: Option<SearchMode>,
    pub sort: Option<SortOrder>,
    pub limit: Option<usize>,
    pub offset: Option<usize>,
    pub min_score: Option<f32>,
    pub raw: Option<bool>,
    pub filters: Option<BodyFilters>,
}

/// Schema `Filters`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BodyFilters {
    pub folder_prefix: Option<String>,
    pub taken_after: Option<String>,
    pub taken_before: Option<String>,
    pub camera: Option<String>,
    pub extensions: Option<Vec<String>>,
    pub min_pixels: Option<u64>,
    pub orientation: Option<String>,
    pub tags: Option<Vec<String>>,
    pub text: Option<String>,
    pub has_text: Option<bool>,
}

impl SearchBody {
    pub fn into_options(self) -> ApiResult<SearchOptions> {
        let query = self.query.unwrap_or_default();
        check_query(&query)?;
        let like = self.like.unwrap_or_default();
        if like.len() > MAX_LIKE {
            return Err(ApiError::bad_request(format!(
                "at most {MAX_LIKE} like ids"
            )));
        }
        if let Some(id) = like.iter().find(|id| **id >= (1u64 << 53)) {
            return Err(ApiError::bad_request(format!(
                "image id {id} is out of range"
            )));
        }
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::bad_request(format!(
                "limit must be an integer from 1 to {MAX_LIMIT}"
            )));
        }
        let offset = self.offset.unwrap_or(0);
        if offset > MAX_OFFSET {
            return Err(ApiError::bad_request(format!(
                "offset must be an integer from 0 to {MAX_OFFSET}"
            )));
        }
        let min_score = self.min_score.map(parse_min_score).transpose()?;
        let body_filters = self.filters.unwrap_or_default();
        let mut filters = FilterInput {
            folder: body_filters.folder_prefix.filter(|s| !s.trim().is_empty()),
            after: body_filters.taken_after.filter(|s| !s.trim().is_empty()),
            before: body_filters.taken_before.filter(|s| !s.trim().is_empty()),
            camera: body_filters.camera.filter(|s| !s.trim().is_empty()),
            min_pixels: body_filters.min_pixels,
            orientation: body_filters.orientation.filter(|s| !s.trim().is_empty()),
            text: body_filters.text.filter(|s| !s.trim().is_empty()),
            has_text: body_filters.has_text,
            ..FilterInput::default()
        };
        if let Some(text) = &filters.text {
            check_len("text", text, MAX_TEXT_FILTER_CHARS)?;
        }
        if let Some(folder) = &filters.folder {
            check_len("folder_prefix", folder, MAX_FOLDER_CHARS)?;
        }
        if let Some(camera) = &filters.camera {
            check_len("camera", camera, MAX_CAMERA_CHARS)?;
        }
        for tag in body_filters.tags.unwrap_or_default() {
            push_item(&mut filters.tags, "tags", &tag, MAX_TAG_CHARS)?;
        }
        for ext in body_filters.extensions.unwrap_or_default() {
            push_item(&mut filters.extensions, "extensions", &ext, MAX_EXT_CHARS)?;
        }
        Ok(SearchOptions {
            query,
            like,
            mode: self.mode.unwrap_or_default(),
            sort: self.sort.unwrap_or_default(),
            limit,
            offset,
            min_score,
            raw: self.raw.unwrap_or(false),
            filters,
        })
    }
}

/// `YYYY-MM-DD`, as the contract says (the searcher also takes Unix seconds; the API does not).
fn check_day(name: &str, value: &str) -> ApiResult<()> {
    let bytes = value.as_bytes();
    let shaped = bytes.len() == 10
        && bytes.iter().enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'-',
            _ => b.is_ascii_digit(),
        });
    if shaped {
        Ok(())
    } else {
        Err(ApiError::invalid_filter(format!(
            "{name} must be a date YYYY-MM-DD"
        )))
    }
}

impl FilterInput {
    /// The searcher's filters. A relative folder is taken relative to `root` (the folder the
    /// API reports paths against); an absolute one is used as it is. Folders are only compared
    /// with catalog paths, never opened.
    pub fn to_filters(&self, root: &Path) -> ApiResult<Filters> {
        let mut filters = Filters::default();
        let mut set = |key: &str, value: &str| {
            filters
                .set(key, value)
                .map_err(|e| ApiError::invalid_filter(e.to_string()))
        };
        if let Some(folder) = &self.folder {
            let folder = folder.trim();
            let prefix = if Path::new(folder).is_absolute() {
                Path::new(folder).to_path_buf()
            } else {
                root.join(folder.trim_start_matches('/'))
            };
            set("folder", &prefix.to_string_lossy())?;
        }
        if let Some(after) = &self.after {
            check_day("after", after.trim())?;
            set("after", after)?;
        }
        if let Some(before) = &self.before {
            check_day("before", before.trim())?;
            set("before", before)?;
        }
        if let Some(camera) = &self.camera {
            set("camera", camera)?;
        }
        for ext in &self.extensions {
            set("type", ext)?;
        }
        if let Some(pixels) = self.min_pixels {
            set("min-pixels", &pixels.to_string())?;
        }
        if let Some(orientation) = &self.orientation {
            set("orientation", orientation)?;
        }
        for tag in &self.tags {
            set("tag", tag)?;
        }
        if let Some(text) = &self.text {
            set("text", text)?;
        }
        if let Some(wanted) = self.has_text {
            set("has-text", if wanted { "yes" } else { "no" })?;
        }
        Ok(filters)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_decode_and_repeat() {
        let pairs = parse_pairs("q=red+car&tag=a&tag=b%20c&empty").unwrap();
        assert_eq!(
            pairs,
            [
                ("q".into(), "red car".into()),
                ("tag".into(), "a".into()),
                ("tag".into(), "b c".into()),
                ("empty".into(), String::new())
            ]
        );
        assert_eq!(parse_pairs("q=%ff").unwrap_err().code, "bad_request");
    }

    #[test]
    fn options_validate_every_limit() {
        let ok = options_from_query(
            "q=red&limit=10&offset=5&mode=vector&sort=date&tag=x&like=3",
            Route::Search,
        )
        .unwrap();
        assert_eq!(
            (ok.limit, ok.offset, ok.like.as_slice()),
            (10, 5, &[3u64][..])
        );
        for bad in [
            "limit=0",
            "limit=501",
            "offset=-1",
            "mode=psychic",
            "sort=size",
            "min_score=2",
            "min_score=nan",
            "raw=maybe",
            "q=a&q=b",
            "colour=red",
            "like=abc",
        ] {
            assert!(options_from_query(bad, Route::Search).is_err(), "{bad}");
        }
        let long = format!("q={}", "a".repeat(2001));
        assert_eq!(
            options_from_query(&long, Route::Search).unwrap_err().code,
            "query_too_long"
        );
        assert!(options_from_query("q=red", Route::Example).is_err());
    }

    #[test]
    fn filters_resolve_folders_and_check_dates() {
        let input = FilterInput {
            folder: Some("2023/lisbon".into()),
            after: Some("2023-01-01".into()),
            ..FilterInput::default()
        };
        let filters = input.to_filters(Path::new("/photos")).unwrap();
        assert_eq!(
            filters.folder_prefix.as_deref(),
            Some(Path::new("/photos/2023/lisbon"))
        );
        let bad = FilterInput {
            after: Some("1700000000".into()),
            ..FilterInput::default()
        };
        assert_eq!(
            bad.to_filters(Path::new("/")).unwrap_err().code,
            "invalid_filter"
        );
        let bad = FilterInput {
            orientation: Some("diagonal".into()),
            ..FilterInput::default()
        };
        assert!(bad.to_filters(Path::new("/")).is_err());
    }

    #[test]
    fn bodies_reject_unknown_fields() {
        assert!(serde_json::from_str::<SearchBody>(r#"{"qeury":"x"}"#).is_err());
        assert!(serde_json::from_str::<SearchBody>(r#"{"filters":{"colour":"red"}}"#).is_err());
        let body: SearchBody = serde_json::from_str(
            r#"{"query":"red","limit":3,"filters":{"tags":[],"extensions":[]}}"#,
        )
        .unwrap();
        assert_eq!(body.into_options().unwrap().limit, 3);
    }
}
