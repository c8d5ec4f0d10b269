//! The indexer on the real stack: `magpie-models` decodes and embeds, `magpie-catalog` stores.
//!
//! [`index`] is what `magpie index` (and each round of `magpie watch`) does: crawl the roots, plan
//! against what the library already holds, and push the plan through the pipeline into the
//! catalog writer. The adapters it wires together are [`ModelDecoder`], [`ModelEmbedder`] and
//! [`CatalogSink`]; [`model_stages`] (the decoder and embedder of a model) and [`image_record`]
//! (the record of an indexed photo) are shared with `magpie-shard`, which sends the same pipeline
//! into shard files instead of a library.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use image::RgbImage;
use magpie_catalog::{Change, ExifFields, Failure, ImageId, ImageRecord, ThumbKind, Writer};
use magpie_models::{DecodeOptions, ImageEncoder};

use crate::backend::{
    Commit, DecodeFailure, DecodedPhoto, ImageEmbedder, IndexedPhoto, PhotoDecoder, Sink,
};
use crate::changes::{plan_changes, Blake3Hasher, ContentHash, KnownFile};
use crate::crawl::{crawl, CrawlOptions};
use crate::error::IndexError;
use crate::metadata::{ExifSummary, TakenAt};
use crate::pipeline::{apply_plan, PipelineConfig};
use crate::progress::{Progress, Summary};

/// Decodes with the models crate (every format of `magpie_models::decode`): libjpeg-turbo DCT
/// scaling, orientation, pixel limit, partial decodes of damaged files.
pub struct ModelDecoder {
    pub options: DecodeOptions,
}

impl PhotoDecoder for ModelDecoder {
    fn decode(&self, path: &Path, bytes: &[u8]) -> Result<DecodedPhoto, DecodeFailure> {
        match magpie_models::decode_image_bytes(bytes, &path.to_string_lossy(), &self.options) {
            Ok(d) => Ok(DecodedPhoto {
                rgb: d.rgb,
                original_width: d.original_width,
                original_height: d.original_height,
                exif: d.exif,
                orientation: d.orientation,
                partial: d.partial,
            }),
            Err(magpie_models::Error::ImageUnsupported { format, how, .. }) => {
                Err(DecodeFailure::Unsupported(format!("{format} ({how})")))
            }
            Err(magpie_models::Error::ImageTooLarge {
                width,
                height,
                max_pixels,
                ..
            }) => Err(DecodeFailure::TooManyPixels {
                width,
                height,
                pixels: u64::from(width) * u64::from(height),
                max_pixels,
            }),
            // The models crate's message starts with the file name; the failure already has it.
            Err(e) => Err(DecodeFailure::Invalid(strip_label(&e.to_string(), path))),
        }
    }
}

fn strip_label(message: &str, path: &Path) -> String {
    let label = format!("{}: ", path.to_string_lossy());
    message.strip_prefix(&label).unwrap_or(message).to_string()
}

/// Embeds with an ONNX image tower.
pub struct ModelEmbedder {
    pub encoder: Arc<ImageEncoder>,
}

impl ImageEmbedder for ModelEmbedder {
    fn input_len(&self) -> usize {
        self.encoder.input_len()
    }
    fn preprocess(&self, image: &RgbImage) -> Result<Vec<f32>, String> {
        self.encoder
            .preprocessor()
            .preprocess(image)
            .map_err(|e| e.to_string())
    }
    fn embed(&self, inputs: &[&[f32]]) -> Result<Vec<Vec<f32>>, String> {
        self.encoder.embed_images(inputs).map_err(|e| e.to_string())
    }
}

/// Turns pipeline commits into catalog commits.
pub struct CatalogSink<'a> {
    pub writer: &'a mut Writer,
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Unix seconds of a camera timestamp; without an offset the local time is taken as UTC, which
/// keeps date filters and sorting right to the day.
pub fn taken_at_unix(t: &TakenAt) -> i64 {
    let days = magpie_catalog::dates::days_from_civil(
        i64::from(t.year),
        u32::from(t.month),
        u32::from(t.day),
    );
    let secs =
        days * 86_400 + i64::from(t.hour) * 3600 + i64::from(t.minute) * 60 + i64::from(t.second);
    secs - i64::from(t.offset_minutes.unwrap_or(0)) * 60
}

fn exif_fields(e: &ExifSummary) -> ExifFields {
    ExifFields {
        taken_at: e.taken_at.as_ref().map(taken_at_unix),
        make: e.make.clone(),
        model: e.model.clone(),
        lens: e.lens.clone(),
        gps: e.gps.as_ref().map(|g| (g.latitude, g.longitude)),
        orientation: e.orientation,
    }
}

/// The catalog record of a photo the pipeline has just indexed: the one construction of an
/// [`ImageRecord`] from an [`IndexedPhoto`], shared by the library ([`CatalogSink`]) and the shard
/// files of `magpie embed-shard` (`magpie-shard`), so both hold the same fields for the same photo.
/// `id` is the library's allocated id or the shard's path hash; `tags` are what the record keeps
/// across a re-embed; `indexed_at` is Unix seconds.
pub fn image_record(
    photo: &IndexedPhoto,
    id: ImageId,
    tags: Vec<String>,
    indexed_at: i64,
) -> ImageRecord {
    ImageRecord {
        id,
        path: photo.file.path.clone(),
        size: photo.file.size,
        mtime_ns: photo.file.mtime_ns,
        content_hash: photo.content_hash.to_string(),
        width: photo.width,
        height: photo.height,
        format: photo.format.name().to_lowercase(),
        exif: exif_fields(&photo.metadata.exif),
        tags,
        indexed_at,
        text: None,
    }
}

/// Catalog errors surface through the pipeline as commit failures.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct SinkError(#[from] magpie_catalog::CatalogError);

impl Sink for CatalogSink<'_> {
    type Error = SinkError;

    fn commit(&mut self, commit: Commit) -> Result<(), SinkError> {
        let w = &mut *self.writer;
        let mut changes = Vec::with_capacity(commit.len());
        // Partial-decode reports go after the upserts, which clear a path's old failure.
        let mut changes_after = Vec::new();
        for path in &commit.removed {
            if let Some(id) = w.id_for_path(path)? {
                changes.push(Change::Remove(id));
            }
            changes.push(Change::ClearFailure(path.clone()));
        }
        for m in &commit.moved {
            if let Some(id) = w.id_for_path(&m.from)? {
                if let Some(mut record) = w.record(id)? {
                    record.path = m.to.path.clone();
                    record.size = m.to.size;
                    record.mtime_ns = m.to.mtime_ns;
                    changes.push(Change::UpdateRecord(record));
                }
            }
        }
        for t in &commit.touched {
            if let Some(id) = w.id_for_path(&t.file.path)? {
                if let Some(mut record) = w.record(id)? {
                    record.size = t.file.size;
                    record.mtime_ns = t.file.mtime_ns;
                    changes.push(Change::UpdateRecord(record));
                }
            }
        }
        for photo in commit.indexed {
            let hash = photo.content_hash.to_string();
            w.put_thumbnail(&hash, ThumbKind::Grid, &photo.thumbnails.grid.jpeg)?;
            w.put_thumbnail(&hash, ThumbKind::Preview, &photo.thumbnails.preview.jpeg)?;
            let (id, tags) = match w.id_for_path(&photo.file.path)? {
                Some(id) => (id, w.record(id)?.map(|r| r.tags).unwrap_or_default()),
                None => (w.allocate_id(), Vec::new()),
            };
            if let Some(partial) = &photo.partial {
                // Indexed *and* reported: `library errors` lists what a damaged file lost.
                changes_after.push(Change::RecordFailure(Failure {
                    path: photo.file.path.clone(),
                    reason: crate::error::FailureReason::PartlyDecoded(partial.clone()).to_string(),
                    size: photo.file.size,
                    mtime_ns: photo.file.mtime_ns,
                    at: now(),
                }));
            }
            let record = image_record(&photo, id, tags, now());
            changes.push(Change::Upsert {
                record,
                embedding: photo.embedding,
            });
        }
        changes.append(&mut changes_after);
        for f in commit.failed {
            let stat = f.stat;
            changes.push(Change::RecordFailure(Failure {
                path: f.path.clone(),
                reason: f.reason.to_string(),
                size: stat.as_ref().map_or(0, |s| s.size),
                mtime_ns: stat.as_ref().map_or(0, |s| s.mtime_ns),
                at: now(),
            }));
        }
        w.commit(changes)?;
        Ok(())
    }
}

/// What the library holds, as the planner sees it: indexed images (with their content hash)
/// and recorded failures (without one, so an unchanged bad file is not retried every run).
pub fn known_files(writer: &Writer) -> Result<Vec<KnownFile>, magpie_catalog::CatalogError> {
    let mut known: Vec<KnownFile> = writer
        .known_files()?
        .into_iter()
        .map(|(path, size, mtime_ns, hash, _)| KnownFile {
            path,
            size,
            mtime_ns,
            content_hash: parse_hash(&hash),
        })
        .collect();
    known.extend(
        writer
            .failures()?
            .into_iter()
            .filter(|f| f.size > 0 || f.mtime_ns != 0)
            .map(|f| KnownFile {
                path: f.path,
                size: f.size,
                mtime_ns: f.mtime_ns,
                content_hash: None,
            }),
    );
    Ok(known)
}

fn parse_hash(text: &str) -> Option<ContentHash> {
    let bytes = hex::decode(text).ok()?;
    Some(ContentHash(bytes.try_into().ok()?))
}

/// The decoder and embedder the pipeline runs with the image tower `encoder` (for `magpie index`
/// and `magpie embed-shard` alike). One decode feeds the model input and both thumbnails: a
/// DCT-scaled JPEG decode may go as small as the model's shortest side and the grid thumbnail's
/// shortest side allow, as long as its longest side still covers the preview.
pub fn model_stages(
    encoder: Arc<ImageEncoder>,
    prepare: &crate::prepare::PrepareSettings,
) -> (Arc<ModelDecoder>, Arc<ModelEmbedder>) {
    let thumbnails = &prepare.thumbnails;
    let decoder = Arc::new(ModelDecoder {
        options: DecodeOptions {
            min_short_side: encoder
                .preprocessor()
                .min_short_side()
                .max(thumbnails.grid_short_side),
            min_long_side: thumbnails.preview_long_side,
            max_pixels: magpie_models::preprocess::DEFAULT_MAX_PIXELS,
        },
    });
    (decoder, Arc::new(ModelEmbedder { encoder }))
}

/// Options of one `magpie index` run.
#[derive(Debug, Clone, Default)]
pub struct IndexOptions {
    pub crawl: CrawlOptions,
    pub pipeline: PipelineConfig,
}

/// Indexes `roots` into the library `writer` with the image tower `encoder` (shared, so `watch`
/// can run again with the same session).
pub fn index(
    roots: &[PathBuf],
    writer: &mut Writer,
    encoder: Arc<ImageEncoder>,
    options: &IndexOptions,
    progress: &Arc<Progress>,
    cancel: &Arc<AtomicBool>,
) -> Result<Summary, IndexError> {
    let found = crawl(roots, &options.crawl)?;
    let known = known_files(writer).map_err(|e| IndexError::Commit {
        source: Box::new(e),
    })?;
    let crawl_failures = found.failures.clone();
    let plan = plan_changes(known, &found, &Blake3Hasher);
    tracing::info!(
        files = found.files.len(),
        to_embed = plan.jobs.len(),
        moved = plan.moves.len(),
        removed = plan.removals.len(),
        unchanged = plan.unchanged,
        "planned"
    );
    let (decoder, embedder) = model_stages(encoder, &options.pipeline.prepare);
    let mut sink = CatalogSink { writer };
    apply_plan(
        plan,
        crawl_failures,
        decoder,
        embedder,
        &mut sink,
        &options.pipeline,
        progress,
        cancel,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camera_time_to_unix() {
        let t = TakenAt {
            year: 2021,
            month: 7,
            day: 4,
            hour: 12,
            minute: 30,
            second: 5,
            offset_minutes: None,
        };
        assert_eq!(taken_at_unix(&t), 1_625_401_805);
        let t = TakenAt {
            offset_minutes: Some(120),
            ..t
        };
        assert_eq!(taken_at_unix(&t), 1_625_401_805 - 7200);
        let epoch = TakenAt {
            year: 1970,
            month: 1,
            day: 1,
            hour: 0,
            minute: 0,
            second: 0,
            offset_minutes: None,
        };
        assert_eq!(taken_at_unix(&epoch), 0);
    }
}
