//! Receiving an example image (`POST /api/search/image`, multipart): size limit while streaming,
//! then format and pixel limit from the header alone, before the model ever decodes it.
//!
//! The upload goes to an anonymous temporary file that is deleted when the search is done; it is
//! never stored in the library and its path never leaves the server.

use std::io::Write as _;
use std::path::Path;

use actix_multipart::{Field, Multipart};
use actix_web::http::header;
use actix_web::{web, HttpRequest};
use futures_util::TryStreamExt as _;
use tempfile::NamedTempFile;

use crate::error::{ApiError, ApiResult};
use crate::params::MAX_QUERY_CHARS;

/// Room for the multipart framing and the small text fields next to the image.
const FORM_OVERHEAD_BYTES: u64 = 64 * 1024;
/// Longest `q` field in bytes (2,000 characters of up to 4 bytes each).
const MAX_TEXT_FIELD_BYTES: usize = 4 * MAX_QUERY_CHARS;
const MAX_FIELDS: usize = 8;
/// Text share when the form gives `q` but no `weight`.
const DEFAULT_TEXT_WEIGHT: f32 = 0.5;

/// A received upload, alive as long as this value.
pub struct UploadedImage {
    file: NamedTempFile,
    pub text: Option<String>,
    /// Share of the text in the mix (0 = image only, 1 = text only).
    pub text_weight: f32,
}

impl UploadedImage {
    pub fn path(&self) -> &Path {
        self.file.path()
    }
}

fn malformed(error: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(format!("the multipart body is malformed: {error}"))
}

/// Reads the form, enforcing `max_bytes` on the image as it streams in.
pub async fn receive(
    req: &HttpRequest,
    payload: web::Payload,
    max_bytes: u64,
) -> ApiResult<UploadedImage> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type
        .trim_start()
        .to_ascii_lowercase()
        .starts_with("multipart/form-data")
    {
        return Err(ApiError::unsupported_media_type(
            "send the image as multipart/form-data with the field \"image\"",
        ));
    }
    let too_large = || {
        ApiError::payload_too_large(format!(
            "the image is larger than {} MB",
            max_bytes / (1024 * 1024)
        ))
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|len| len > max_bytes + FORM_OVERHEAD_BYTES) {
        return Err(too_large());
    }

    let mut form = Multipart::new(req.headers(), payload);
    let mut image: Option<NamedTempFile> = None;
    let mut image_bytes = 0u64;
    let mut text = None;
    let mut weight = None;
    let mut fields = 0;
    while let Some(mut field) = form.try_next().await.map_err(malformed)? {
        fields += 1;
        if fields > MAX_FIELDS {
            return Err(ApiError::bad_request("the form has too many fields"));
        }
        let name = field.name().unwrap_or("").to_string();
        match name.as_str() {
            "image" => {
                if image.is_some() {
                    return Err(ApiError::bad_request("send one image per search"));
                }
                let mut file = NamedTempFile::new().map_err(ApiError::internal)?;
                while let Some(chunk) = field.try_next().await.map_err(malformed)? {
                    image_bytes += chunk.len() as u64;
                    if image_bytes > max_bytes {
                        return Err(too_large());
                    }
                    file.write_all(&chunk).map_err(ApiError::internal)?;
                }
                file.flush().map_err(ApiError::internal)?;
                image = Some(file);
            }
            "q" => {
                let value = read_text(&mut field, MAX_TEXT_FIELD_BYTES, "q").await?;
                if value.chars().count() > MAX_QUERY_CHARS {
                    return Err(ApiError::query_too_long(format!(
                        "q is longer than {MAX_QUERY_CHARS} characters"
                    )));
                }
                text = Some(value);
            }
            "weight" => {
                let value = read_text(&mut field, 64, "weight").await?;
                let parsed = value
                    .trim()
                    .parse::<f32>()
                    .ok()
                    .filter(|w| (0.0..=1.0).contains(w))
                    .ok_or_else(|| ApiError::bad_request("weight must be a number from 0 to 1"))?;
                weight = Some(parsed);
            }
            _ => {
                return Err(ApiError::bad_request(
                    "unknown form field (expected image, q, weight)",
                ))
            }
        }
    }
    let Some(file) = image.filter(|_| image_bytes > 0) else {
        return Err(ApiError::bad_request(
            "the multipart field \"image\" is required",
        ));
    };
    let text = text.filter(|t| !t.trim().is_empty());
    Ok(UploadedImage {
        file,
        text_weight: if text.is_some() {
            weight.unwrap_or(DEFAULT_TEXT_WEIGHT)
        } else {
            0.0
        },
        text,
    })
}

async fn read_text(field: &mut Field, max_bytes: usize, name: &str) -> ApiResult<String> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field.try_next().await.map_err(malformed)? {
        if bytes.len() + chunk.len() > max_bytes {
            return Err(if name == "q" {
                ApiError::query_too_long(format!("q is longer than {MAX_QUERY_CHARS} characters"))
            } else {
                ApiError::bad_request(format!("the form field {name} is too long"))
            });
        }
        bytes.extend_from_slice(&chunk);
    }
    String::from_utf8(bytes)
        .map_err(|_| ApiError::bad_request(format!("the form field {name} is not UTF-8")))
}

/// Format and size from the header only: a 100,000 × 100,000 PNG is refused without decoding.
pub fn check_image(path: &Path, max_pixels: u64) -> ApiResult<(u32, u32)> {
    let unsupported = || {
        ApiError::unsupported_media_type(
            "that file is not an image Magpie can read (JPEG, PNG, WebP, GIF, BMP or TIFF)",
        )
    };
    let reader = image::ImageReader::open(path)
        .map_err(ApiError::internal)?
        .with_guessed_format()
        .map_err(ApiError::internal)?;
    if reader.format().is_none() {
        return Err(unsupported());
    }
    let (width, height) = reader.into_dimensions().map_err(|e| match e {
        image::ImageError::Unsupported(_) => unsupported(),
        other => ApiError::invalid_image(format!("the image could not be decoded: {other}")),
    })?;
    let pixels = u64::from(width) * u64::from(height);
    if pixels > max_pixels {
        return Err(ApiError::image_too_large(format!(
            "the image has {width} × {height} pixels; at most {} megapixels are accepted",
            max_pixels / 1_000_000
        )));
    }
    if pixels == 0 {
        return Err(ApiError::invalid_image("the image has no pixels"));
    }
    Ok((width, height))
}
