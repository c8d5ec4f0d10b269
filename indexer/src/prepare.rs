//! The per-file work of a decode worker: read once, hash, sniff, decode, metadata, model input,
//! thumbnails. Everything that can go wrong becomes a [`FileFailure`] naming the file.

use std::fs::File;
use std::io::Read;

use crate::backend::{DecodeFailure, ImageEmbedder, PhotoDecoder};
use crate::changes::{ContentHash, Job};
use crate::crawl::FoundFile;
use crate::error::{FailureReason, FileFailure};
use crate::metadata::{exif_from_blob, ExifSummary, PhotoMetadata};
use crate::sniff::{judge, ImageFormat, Verdict};
use crate::thumbs::{make_thumbnails, ThumbnailSpec, Thumbnails};

/// Per-file settings of the decode stage.
#[derive(Debug, Clone)]
pub struct PrepareSettings {
    /// Files larger than this are refused before reading (memory guard; the decoder's pixel limit
    /// guards decoded size).
    pub max_file_bytes: u64,
    pub thumbnails: ThumbnailSpec,
}

impl Default for PrepareSettings {
    fn default() -> Self {
        Self {
            max_file_bytes: 512 * 1024 * 1024,
            thumbnails: ThumbnailSpec::default(),
        }
    }
}

/// A photo decoded and preprocessed, waiting for the model.
#[derive(Debug)]
pub struct PreparedPhoto {
    pub job: Job,
    pub content_hash: ContentHash,
    pub format: ImageFormat,
    pub width: u32,
    pub height: u32,
    pub metadata: PhotoMetadata,
    pub thumbnails: Thumbnails,
    pub model_input: Vec<f32>,
    /// What a damaged file lost, when it was decoded only in part.
    pub partial: Option<String>,
}

/// What the decode stage made of one file.
#[derive(Debug)]
pub enum Prepared {
    Photo(Box<PreparedPhoto>),
    /// Not an image and not named like one.
    NotImage(FoundFile),
    Failed(FileFailure),
}

/// Processes one file.
pub fn prepare<D: PhotoDecoder + ?Sized, E: ImageEmbedder + ?Sized>(
    job: Job,
    decoder: &D,
    embedder: &E,
    settings: &PrepareSettings,
) -> Prepared {
    match try_prepare(&job, decoder, embedder, settings) {
        Ok(Some(photo)) => Prepared::Photo(Box::new(photo)),
        Ok(None) => Prepared::NotImage(job.file),
        Err(reason) => Prepared::Failed(
            FileFailure::new(job.file.path.clone(), reason).with_stat(job.file.stat()),
        ),
    }
}

fn try_prepare<D: PhotoDecoder + ?Sized, E: ImageEmbedder + ?Sized>(
    job: &Job,
    decoder: &D,
    embedder: &E,
    settings: &PrepareSettings,
) -> Result<Option<PreparedPhoto>, FailureReason> {
    let path = &job.file.path;
    let bytes = read_limited(path, settings.max_file_bytes)?;
    let format = match judge(path, &bytes) {
        Verdict::Image(format) => format,
        Verdict::NotImage => return Ok(None),
        Verdict::Failure(reason) => return Err(reason),
    };
    // Hash what is decoded, not what the plan saw: the file may have changed since.
    let content_hash = ContentHash::of_bytes(&bytes);
    let decoded = decoder
        .decode(path, &bytes)
        .map_err(|failure| match failure {
            DecodeFailure::TooManyPixels {
                width,
                height,
                max_pixels,
                ..
            } => FailureReason::TooManyPixels {
                width,
                height,
                max_pixels,
            },
            DecodeFailure::Unsupported(what) => FailureReason::Unsupported(what),
            DecodeFailure::Invalid(reason) => FailureReason::Decode(reason),
        })?;
    drop(bytes);
    let mut exif = decoded
        .exif
        .as_deref()
        .map(exif_from_blob)
        .unwrap_or_else(ExifSummary::default);
    // The orientation the pixels were turned by is the one recorded (read once, by the decoder).
    exif.orientation = (decoded.orientation != 1).then_some(decoded.orientation);
    let model_input = embedder
        .preprocess(&decoded.rgb)
        .map_err(FailureReason::Preprocess)?;
    if model_input.len() != embedder.input_len() {
        return Err(FailureReason::Preprocess(format!(
            "preprocessing produced {} values, the model takes {}",
            model_input.len(),
            embedder.input_len()
        )));
    }
    let thumbnails = make_thumbnails(&decoded.rgb, &settings.thumbnails)
        .map_err(|e| FailureReason::Thumbnail(e.to_string()))?;
    Ok(Some(PreparedPhoto {
        job: job.clone(),
        content_hash,
        format,
        width: decoded.original_width,
        height: decoded.original_height,
        metadata: PhotoMetadata::new(exif, &job.file),
        thumbnails,
        model_input,
        partial: decoded.partial,
    }))
}

/// Reads the whole file, refusing files over `limit` without reading them (and files that grew
/// past it since the crawl).
fn read_limited(path: &std::path::Path, limit: u64) -> Result<Vec<u8>, FailureReason> {
    let file = File::open(path).map_err(|e| FailureReason::from_io(&e))?;
    let size = file
        .metadata()
        .map_err(|e| FailureReason::from_io(&e))?
        .len();
    if size > limit {
        return Err(FailureReason::TooLarge { bytes: size, limit });
    }
    let mut bytes = Vec::with_capacity(size as usize);
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| FailureReason::from_io(&e))?;
    if bytes.len() as u64 > limit {
        return Err(FailureReason::TooLarge {
            bytes: bytes.len() as u64,
            limit,
        });
    }
    Ok(bytes)
}
