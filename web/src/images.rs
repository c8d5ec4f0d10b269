//! One image by id: metadata, thumbnail, preview, and the original file.
//!
//! The only way from a request to the file system is an id: it is parsed as an integer, looked up
//! in the catalog snapshot, and the path *from the catalog record* is opened. Nothing in the
//! request path or query is ever joined onto a directory, so `../`, `%2e%2e%2f` or absolute paths
//! can at worst fail to parse as an id.

use std::path::PathBuf;
use std::time::UNIX_EPOCH;

use actix_web::body::SizedStream;
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use magpie_catalog::{ImageRecord, ThumbKind};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};
use tokio_util::io::ReaderStream;

use crate::error::{ApiError, ApiResult};
use crate::present::{image_info, raw_original_url};
use crate::search::json_response;
use crate::state::AppState;

/// Thumbnails are named by content hash, but the URL is by id and an id's file can change.
const THUMBNAIL_CACHE: &str = "private, max-age=3600";

/// An image id from the URL: a non-negative integer below 2^53, nothing else.
pub fn parse_image_id(raw: &str) -> ApiResult<u64> {
    raw.parse::<u64>()
        .ok()
        .filter(|id| *id < (1u64 << 53) && raw.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| ApiError::bad_request("an image id is a non-negative integer"))
}

/// The record of `id` in the newest snapshot.
async fn record_of(state: &web::Data<AppState>, id: u64) -> ApiResult<(ImageRecord, PathBuf)> {
    let state = state.clone();
    web::block(move || {
        let collection = state.service.collection();
        let root = state.facts(&collection).root.clone();
        collection
            .index()
            .record(id)
            .map(|r| (r, root))
            .ok_or_else(|| ApiError::not_found(format!("no image with id {id}")))
    })
    .await?
}

/// `GET /api/images/{id}`.
pub async fn info(id: web::Path<String>, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let id = parse_image_id(&id)?;
    let (record, root) = record_of(&state, id).await?;
    let path = record.path.clone();
    let raw = web::block(move || magpie_catalog::companion::raw_original_on_disk(&path)).await?;
    let mut info = image_info(&record, &root);
    info.raw_original_url = raw.map(|_| raw_original_url(id));
    Ok(json_response(&info))
}

fn matches_etag(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|candidate| {
            candidate == "*" || candidate == etag || candidate.strip_prefix("W/") == Some(etag)
        })
}

async fn thumbnail_of(
    req: HttpRequest,
    id: web::Path<String>,
    state: web::Data<AppState>,
    kind: ThumbKind,
) -> ApiResult<HttpResponse> {
    let id = parse_image_id(&id)?;
    let (record, _) = record_of(&state, id).await?;
    let hash: String = record
        .content_hash
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    let suffix = match kind {
        ThumbKind::Grid => "grid",
        ThumbKind::Preview => "preview",
    };
    let etag = format!("\"{hash}-{suffix}\"");
    if matches_etag(req.headers(), &etag) {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .insert_header((header::CACHE_CONTROL, THUMBNAIL_CACHE))
            .finish());
    }
    let what = if kind == ThumbKind::Grid {
        "thumbnail"
    } else {
        "preview"
    };
    let missing = || ApiError::not_found(format!("image {id} has no {what} yet"));
    let path = state
        .service
        .collection()
        .thumbnail_path(&record, kind)
        .ok_or_else(missing)?;
    let bytes = match tokio::fs::read(&path).await {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(missing()),
        Err(e) => return Err(ApiError::internal(format!("{}: {e}", path.display()))),
    };
    Ok(HttpResponse::Ok()
        .content_type("image/jpeg")
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, THUMBNAIL_CACHE))
        .body(bytes))
}

/// `GET /api/images/{id}/thumbnail`.
pub async fn thumbnail(
    req: HttpRequest,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    thumbnail_of(req, id, state, ThumbKind::Grid).await
}

/// `GET /api/images/{id}/preview`.
pub async fn preview(
    req: HttpRequest,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    thumbnail_of(req, id, state, ThumbKind::Preview).await
}

/// The content type to send an original with, and whether it may be shown inline. Only raster
/// formats a browser cannot run script from are inline; anything else is a download.
fn original_type(format: &str) -> (&'static str, bool) {
    match format.to_ascii_lowercase().as_str() {
        "jpeg" | "jpg" => ("image/jpeg", true),
        "png" => ("image/png", true),
        "webp" => ("image/webp", true),
        "gif" => ("image/gif", true),
        "bmp" => ("image/bmp", true),
        "tiff" => ("image/tiff", true),
        "heif" | "heic" => ("image/heif", true),
        "avif" => ("image/avif", true),
        "jxl" => ("image/jxl", true),
        _ => ("application/octet-stream", false),
    }
}

/// A single `bytes=` range within `len`: `Ok(None)` = serve everything (no header, a form we do
/// not support, or several ranges), `Err` = unsatisfiable.
fn parse_range(headers: &HeaderMap, len: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().strip_prefix("bytes="))
    else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((start, end)) = spec.trim().split_once('-') else {
        return Ok(None);
    };
    let (start, end) = (start.trim(), end.trim());
    let range = match (start.parse::<u64>(), end.parse::<u64>()) {
        (Ok(start), Ok(end)) if start <= end => (start, end.min(len.saturating_sub(1))),
        (Ok(start), Err(_)) if end.is_empty() => (start, len.saturating_sub(1)),
        (Err(_), Ok(suffix)) if start.is_empty() => {
            if suffix == 0 {
                return Err(());
            }
            (len.saturating_sub(suffix), len.saturating_sub(1))
        }
        _ => return Ok(None),
    };
    if len == 0 || range.0 >= len {
        return Err(());
    }
    Ok(Some(range))
}

/// `GET /api/images/{id}/original`: the file as it is, with `Range` support.
pub async fn original(
    req: HttpRequest,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let id = parse_image_id(&id)?;
    let (record, _) = record_of(&state, id).await?;
    let (content_type, inline) = original_type(&record.format);
    let name = record.file_name();
    serve_file(&req, id, record.path, &name, content_type, inline).await
}

/// `GET /api/images/{id}/raw`: the camera RAW a JPEG was shot with (same folder and name, see
/// `magpie_catalog::companion`), as a download; 404 when the image has none.
pub async fn raw_original(
    req: HttpRequest,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let id = parse_image_id(&id)?;
    let (record, _) = record_of(&state, id).await?;
    let path = record.path.clone();
    let raw = web::block(move || magpie_catalog::companion::raw_original_on_disk(&path))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("image {id} has no camera RAW beside it")))?;
    let name = raw
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    serve_file(&req, id, raw, &name, "application/octet-stream", false).await
}

/// Streams a file with `Range`, `ETag` and a `Content-Disposition` naming it.
async fn serve_file(
    req: &HttpRequest,
    id: u64,
    path: PathBuf,
    file_name: &str,
    content_type: &'static str,
    inline: bool,
) -> ApiResult<HttpResponse> {
    let gone = || {
        ApiError::not_found(format!(
            "the original file of image {id} is no longer where it was indexed"
        ))
    };
    let record_path = path;
    let mut file = match tokio::fs::File::open(&record_path).await {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(gone()),
        Err(e) => {
            return Err(ApiError::internal(format!(
                "{}: {e}",
                record_path.display()
            )))
        }
    };
    let metadata = file.metadata().await.map_err(ApiError::internal)?;
    if !metadata.is_file() {
        return Err(gone());
    }
    let len = metadata.len();
    let modified = metadata
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let etag = format!("\"{len:x}-{modified:x}\"");
    if matches_etag(req.headers(), &etag) {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .finish());
    }
    let name = utf8_percent_encode(file_name, NON_ALPHANUMERIC).to_string();
    let disposition = format!(
        "{}; filename*=UTF-8''{name}",
        if inline { "inline" } else { "attachment" }
    );
    let mut response = match parse_range(req.headers(), len) {
        Err(()) => {
            let mut response = ApiError::range_not_satisfiable().error_response();
            if let Ok(value) = HeaderValue::from_str(&format!("bytes */{len}")) {
                response.headers_mut().insert(header::CONTENT_RANGE, value);
            }
            return Ok(response);
        }
        Ok(Some((start, end))) => {
            file.seek(std::io::SeekFrom::Start(start))
                .await
                .map_err(ApiError::internal)?;
            let count = end - start + 1;
            let mut response = HttpResponse::PartialContent();
            response.insert_header((header::CONTENT_RANGE, format!("bytes {start}-{end}/{len}")));
            let body = SizedStream::new(count, ReaderStream::new(file.take(count)));
            (response, body)
        }
        Ok(None) => (
            HttpResponse::Ok(),
            SizedStream::new(len, ReaderStream::new(file.take(len))),
        ),
    };
    Ok(response
        .0
        .content_type(content_type)
        .insert_header((header::CONTENT_DISPOSITION, disposition))
        .insert_header((header::ACCEPT_RANGES, "bytes"))
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, "private, no-cache"))
        .body(response.1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_range(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::RANGE, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn ids_are_plain_integers() {
        assert_eq!(parse_image_id("42").unwrap(), 42);
        for bad in [
            "",
            "-1",
            "+1",
            "1.0",
            "..",
            "%2e%2e",
            "/etc/passwd",
            "9007199254740992",
            " 1",
        ] {
            assert!(parse_image_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ranges() {
        assert_eq!(parse_range(&HeaderMap::new(), 10), Ok(None));
        assert_eq!(parse_range(&with_range("bytes=0-3"), 10), Ok(Some((0, 3))));
        assert_eq!(parse_range(&with_range("bytes=4-"), 10), Ok(Some((4, 9))));
        assert_eq!(parse_range(&with_range("bytes=-3"), 10), Ok(Some((7, 9))));
        assert_eq!(
            parse_range(&with_range("bytes=5-100"), 10),
            Ok(Some((5, 9)))
        );
        assert_eq!(parse_range(&with_range("bytes=10-"), 10), Err(()));
        assert_eq!(parse_range(&with_range("bytes=0-1,3-4"), 10), Ok(None));
        assert_eq!(parse_range(&with_range("lines=1-2"), 10), Ok(None));
    }

    #[test]
    fn only_raster_formats_are_inline() {
        assert_eq!(original_type("JPEG"), ("image/jpeg", true));
        assert_eq!(original_type("svg"), ("application/octet-stream", false));
    }
}
