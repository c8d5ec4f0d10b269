//! The three things the indexer needs from the rest of Magpie, as traits: decoding photos
//! (`magpie-models`), turning pixels into embeddings (`magpie-models`), and storing results
//! (`magpie-catalog`). The pipeline is generic over them, so it is tested here with simple real
//! implementations and wired to the real crates by thin adapters in the binary.

use std::path::{Path, PathBuf};

use image::RgbImage;

use crate::changes::{ContentHash, JobKind, Move, Touch};
use crate::crawl::FoundFile;
use crate::error::FileFailure;
use crate::metadata::PhotoMetadata;
use crate::sniff::ImageFormat;
use crate::thumbs::Thumbnails;

/// A decoded photo: upright pixels (EXIF orientation applied) and what the decoder learnt.
#[derive(Debug, Clone)]
pub struct DecodedPhoto {
    /// Upright RGB pixels; may be smaller than the original (e.g. a DCT-scaled JPEG decode), but at
    /// least as large as the model input and the preview need.
    pub rgb: RgbImage,
    /// Full-resolution size as displayed (after orientation).
    pub original_width: u32,
    pub original_height: u32,
    /// The raw EXIF block, when the file has one.
    pub exif: Option<Vec<u8>>,
    /// The EXIF orientation (1–8) the decoder turned the pixels by — the one reading of it, which
    /// the catalog records (see `magpie_models::decode::orientation`).
    pub orientation: u16,
    /// Set when the file is damaged but was decoded as far as it goes (what was lost): indexed,
    /// and reported as "partly decoded".
    pub partial: Option<String>,
}

/// Why a decoder refused a file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeFailure {
    /// The header declares more pixels than allowed (decompression-bomb guard), checked before any
    /// pixel is decoded.
    #[error("{width}×{height} = {pixels} pixels exceeds the limit of {max_pixels}")]
    TooManyPixels {
        width: u32,
        height: u32,
        pixels: u64,
        max_pixels: u64,
    },
    /// A recognised format this build or machine cannot decode, and how to enable it.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// Anything else: truncated, corrupt, unsupported variant…
    #[error("{0}")]
    Invalid(String),
}

/// Decodes image files. Called from many decode workers at once.
pub trait PhotoDecoder: Send + Sync + 'static {
    /// Decodes `bytes` (the whole file at `path`, already recognised as a supported format).
    fn decode(&self, path: &Path, bytes: &[u8]) -> Result<DecodedPhoto, DecodeFailure>;
}

/// The image tower: preprocessing runs in the decode workers (CPU, parallel), embedding in the
/// single inference stage (batched, GPU or CPU).
pub trait ImageEmbedder: Send + Sync + 'static {
    /// Length of one preprocessed input (e.g. `3 × 224 × 224`).
    fn input_len(&self) -> usize;
    /// Upright RGB → one model input of `input_len()` values.
    fn preprocess(&self, image: &RgbImage) -> Result<Vec<f32>, String>;
    /// Embeds a batch; returns one vector per input, in order.
    fn embed(&self, inputs: &[&[f32]]) -> Result<Vec<Vec<f32>>, String>;
}

/// A photo fully processed and ready to store.
#[derive(Debug, Clone)]
pub struct IndexedPhoto {
    pub file: FoundFile,
    /// `Add` for a path the catalog did not know, `Reembed` to replace its record.
    pub kind: JobKind,
    /// blake3 of exactly the bytes that were decoded.
    pub content_hash: ContentHash,
    pub format: ImageFormat,
    pub width: u32,
    pub height: u32,
    pub metadata: PhotoMetadata,
    pub thumbnails: Thumbnails,
    pub embedding: Vec<f32>,
    /// What a damaged file lost (see [`DecodedPhoto::partial`]).
    pub partial: Option<String>,
}

/// One atomic unit of change for the catalog. Committed in order; after a crash the catalog holds
/// some prefix of the commits, which is what makes an interrupted run resumable: the next plan
/// sees committed files as unchanged.
#[derive(Debug, Default)]
pub struct Commit {
    pub indexed: Vec<IndexedPhoto>,
    /// Same content, new size/mtime: update the record, keep the embedding.
    pub touched: Vec<Touch>,
    /// Same content at a new path: re-key the record, keep the embedding.
    pub moved: Vec<Move>,
    /// Records to delete.
    pub removed: Vec<PathBuf>,
    /// Files that are not images (worth remembering so they are not sniffed again while unchanged).
    pub skipped: Vec<FoundFile>,
    pub failed: Vec<FileFailure>,
}

impl Commit {
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of changes in the commit.
    pub fn len(&self) -> usize {
        self.indexed.len()
            + self.touched.len()
            + self.moved.len()
            + self.removed.len()
            + self.skipped.len()
            + self.failed.len()
    }
}

/// Where results go: the catalog writer. Runs on the calling thread, so it need not be `Send`.
pub trait Sink {
    type Error: std::error::Error + Send + Sync + 'static;
    fn commit(&mut self, commit: Commit) -> Result<(), Self::Error>;
}
