//! The OCR stage: read the words in every indexed image that has not been read yet.
//!
//! It runs after embedding (`magpie index --ocr`), never inside it, so OCR — several times the
//! cost of a CLIP embedding per image — never delays the first useful index. It is incremental by
//! construction: a record without [`ImageText`] is unread, and the indexer writes a new or changed
//! file's record without one, so exactly the new and changed images are read. It is resumable: the
//! text is committed in small batches, so a kill loses at most the batch in flight, which the next
//! run reads again (each record holds one text, so nothing is ever duplicated).
//!
//! A file that cannot be read (gone, changed since it was indexed, undecodable, an OCR failure)
//! is logged with its path and the reason; an unreadable one keeps an empty text with the reason,
//! so it is not retried until the file changes, and the stage goes on.
//!
//! The stage is written against [`TextReader`], so it is tested with a fake; [`OcrReader`] is the
//! real one (`magpie-ocr`).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use magpie_catalog::{Change, ImageId, ImageText, TextLine, Writer};
use serde::Serialize;

use crate::error::IndexError;

/// Reads the text of one image.
pub trait TextReader {
    /// The model's name, recorded with each text.
    fn model_name(&self) -> String;
    /// The lines read in `bytes` (the content of `path`), with boxes in the displayed (EXIF-
    /// oriented) frame, and how many text regions were left unread by the detector's cap.
    fn read(&self, path: &Path, bytes: &[u8]) -> Result<(Vec<TextLine>, usize), String>;
}

/// The real reader: PP-OCR through `magpie-ocr`.
pub struct OcrReader {
    engine: magpie_ocr::OcrEngine,
}

impl OcrReader {
    pub fn new(engine: magpie_ocr::OcrEngine) -> Self {
        Self { engine }
    }
}

impl TextReader for OcrReader {
    fn model_name(&self) -> String {
        self.engine.model_name().to_string()
    }

    fn read(&self, path: &Path, bytes: &[u8]) -> Result<(Vec<TextLine>, usize), String> {
        let label = path.display().to_string();
        let decoded = magpie_models::decode_image_bytes(
            bytes,
            &label,
            &magpie_models::DecodeOptions::default(),
        )
        .map_err(|e| e.to_string())?;
        let result = self
            .engine
            .read_decoded(&decoded)
            .map_err(|e| e.to_string())?;
        let lines = result
            .lines
            .into_iter()
            .map(|l| TextLine {
                text: l.text,
                confidence: l.confidence,
                corners: l.corners,
            })
            .collect();
        Ok((lines, result.dropped_regions))
    }
}

/// Settings of the stage.
#[derive(Debug, Clone)]
pub struct TextStageOptions {
    /// Texts committed at a time (at most): what a kill can cost.
    pub commit_every: usize,
    /// …or after this long, whichever comes first.
    pub commit_interval: Duration,
}

impl Default for TextStageOptions {
    fn default() -> Self {
        Self {
            commit_every: 16,
            commit_interval: Duration::from_secs(5),
        }
    }
}

/// Live counters for a progress bar.
#[derive(Debug, Default)]
pub struct TextProgress {
    pub total: AtomicU64,
    pub done: AtomicU64,
}

/// What one run of the stage did.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct TextSummary {
    /// Images that needed reading when the stage started.
    pub to_read: u64,
    /// Images read (with or without text).
    pub read: u64,
    /// …of which had text.
    pub with_text: u64,
    /// Lines read in all.
    pub lines: u64,
    /// Images whose detector cap left text regions unread.
    pub capped: u64,
    /// Images that could not be read (each logged with its reason).
    pub failed: u64,
    /// Images skipped because the file changed or vanished since it was indexed (the next
    /// `magpie index` re-indexes them, and they are read after that).
    pub changed: u64,
    pub interrupted: bool,
    pub elapsed_seconds: f64,
    pub images_per_second: f64,
}

/// The ids of the records OCR has not read.
pub fn unread(writer: &Writer) -> Result<Vec<(ImageId, PathBuf)>, IndexError> {
    let mut out = Vec::new();
    for record in writer.records() {
        let record = record.map_err(commit_error)?;
        if record.text.is_none() {
            out.push((record.id, record.path));
        }
    }
    Ok(out)
}

fn commit_error(e: magpie_catalog::CatalogError) -> IndexError {
    IndexError::Commit {
        source: Box::new(e),
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Reads every unread image of the library and commits its text.
pub fn read_library_text(
    writer: &mut Writer,
    reader: &dyn TextReader,
    options: &TextStageOptions,
    progress: &Arc<TextProgress>,
    cancel: &Arc<AtomicBool>,
) -> Result<TextSummary, IndexError> {
    let started = Instant::now();
    let todo = unread(writer)?;
    let mut summary = TextSummary {
        to_read: todo.len() as u64,
        ..TextSummary::default()
    };
    progress.total.store(todo.len() as u64, Ordering::Relaxed);
    let model = reader.model_name();
    let mut pending: Vec<Change> = Vec::new();
    let mut last_commit = Instant::now();
    for (id, path) in todo {
        if cancel.load(Ordering::Relaxed) {
            summary.interrupted = true;
            break;
        }
        let Some(mut record) = writer.record(id).map_err(commit_error)? else {
            continue;
        };
        let text = match std::fs::read(&path) {
            Err(e) => {
                tracing::warn!(file = %path.display(), "OCR skipped: cannot read the file: {e}");
                summary.changed += 1;
                None
            }
            Ok(bytes) if blake3::hash(&bytes).to_hex().as_str() != record.content_hash => {
                tracing::warn!(file = %path.display(),
                    "OCR skipped: the file changed since it was indexed (`magpie index` re-indexes it)");
                summary.changed += 1;
                None
            }
            Ok(bytes) => Some(match reader.read(&path, &bytes) {
                Ok((lines, dropped_regions)) => {
                    summary.read += 1;
                    summary.lines += lines.len() as u64;
                    if dropped_regions > 0 {
                        summary.capped += 1;
                        tracing::info!(file = %path.display(), dropped_regions,
                            "OCR: more text regions than the detector reads; the rest were left out");
                    }
                    ImageText {
                        lines,
                        dropped_regions,
                        model: model.clone(),
                        read_at: now(),
                        error: None,
                    }
                }
                Err(reason) => {
                    tracing::warn!(file = %path.display(), "OCR failed: {reason}");
                    summary.failed += 1;
                    ImageText {
                        model: model.clone(),
                        read_at: now(),
                        error: Some(reason),
                        ..ImageText::default()
                    }
                }
            }),
        };
        progress.done.fetch_add(1, Ordering::Relaxed);
        let Some(text) = text else { continue };
        summary.with_text += u64::from(!text.is_empty());
        record.text = Some(text);
        pending.push(Change::UpdateRecord(record));
        if pending.len() >= options.commit_every.max(1)
            || last_commit.elapsed() >= options.commit_interval
        {
            writer
                .commit(std::mem::take(&mut pending))
                .map_err(commit_error)?;
            last_commit = Instant::now();
        }
    }
    writer.commit(pending).map_err(commit_error)?;
    summary.elapsed_seconds = started.elapsed().as_secs_f64();
    if summary.elapsed_seconds > 0.0 {
        summary.images_per_second = summary.read as f64 / summary.elapsed_seconds;
    }
    Ok(summary)
}
