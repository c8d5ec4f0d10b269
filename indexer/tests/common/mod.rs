//! Real (simple) implementations of the indexer's backend traits for the tests: an `image`-crate
//! decoder, a mean-colour "embedder", and a sink that keeps every commit in memory.
#![allow(dead_code)] // each test binary uses a different subset

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use image::{DynamicImage, ImageDecoder, ImageReader, RgbImage};
use magpie_indexer::{
    Commit, DecodeFailure, DecodedPhoto, ImageEmbedder, IndexedPhoto, KnownFile, PhotoDecoder, Sink,
};

/// Decodes with the `image` crate: pixel limit checked from the header, EXIF orientation applied.
pub struct ImageCrateDecoder {
    pub max_pixels: u64,
}

impl Default for ImageCrateDecoder {
    fn default() -> Self {
        Self {
            max_pixels: 178_956_970,
        }
    }
}

impl PhotoDecoder for ImageCrateDecoder {
    fn decode(&self, _path: &Path, bytes: &[u8]) -> Result<DecodedPhoto, DecodeFailure> {
        let invalid = |e: image::ImageError| DecodeFailure::Invalid(e.to_string());
        let reader = ImageReader::new(Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| DecodeFailure::Invalid(e.to_string()))?;
        let mut decoder = reader.into_decoder().map_err(invalid)?;
        let (width, height) = decoder.dimensions();
        let pixels = u64::from(width) * u64::from(height);
        if pixels > self.max_pixels {
            return Err(DecodeFailure::TooManyPixels {
                width,
                height,
                pixels,
                max_pixels: self.max_pixels,
            });
        }
        let exif = decoder.exif_metadata().ok().flatten();
        let orientation = decoder
            .orientation()
            .unwrap_or(image::metadata::Orientation::NoTransforms);
        let mut image = DynamicImage::from_decoder(decoder).map_err(invalid)?;
        image.apply_orientation(orientation);
        let rgb = image.to_rgb8();
        let (original_width, original_height) = rgb.dimensions();
        Ok(DecodedPhoto {
            rgb,
            original_width,
            original_height,
            exif,
            orientation: u16::from(orientation.to_exif()),
            partial: None,
        })
    }
}

/// A gate a test holds shut to make a decode "hang" for as long as it likes — no sleeps, so the
/// tests do not depend on timing. Built with [`Gate::advancing`], a decode reaching it also moves
/// the pipeline's clock past the file time limit: the hang is then over the limit by fact, not
/// by a race against the machine's load.
#[derive(Default)]
pub struct Gate {
    open: Mutex<bool>,
    changed: Condvar,
    pub waiting: AtomicUsize,
    advance: Option<(Arc<magpie_indexer::ManualClock>, std::time::Duration)>,
}

impl Gate {
    /// A gate that advances `clock` by `by` whenever a decode starts waiting at it.
    pub fn advancing(clock: Arc<magpie_indexer::ManualClock>, by: std::time::Duration) -> Self {
        Self {
            advance: Some((clock, by)),
            ..Self::default()
        }
    }

    pub fn wait(&self) {
        if let Some((clock, by)) = &self.advance {
            clock.advance(*by);
        }
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let mut open = self.open.lock().unwrap();
        while !*open {
            open = self.changed.wait(open).unwrap();
        }
    }

    pub fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.changed.notify_all();
    }
}

/// "Embeds" an image as its mean colour (r, g, b in 0..1): simple, but a real function of the
/// pixels, so tests can check that each embedding belongs to its photo.
///
/// Misbehaviour is triggered by the image content (the trait gets pixels, not paths): a pure green
/// image blocks at `hang_on_green` while being prepared — inside the decode stage, under the
/// watchdog — and a pure blue one panics when `panic_on_blue` is set.
#[derive(Default)]
pub struct MeanColourEmbedder {
    pub hang_on_green: Option<Arc<Gate>>,
    pub panic_on_blue: bool,
    /// Inputs whose red mean is above this make `embed` fail (a model rejecting an input).
    pub reject_red_above: Option<f32>,
    /// Fail every call (a broken model).
    pub always_fail: bool,
    /// Set this flag after each successful `embed` call (Ctrl-C during the first batch).
    pub cancel_after_first_batch: Option<Arc<AtomicBool>>,
    pub batches: AtomicUsize,
}

pub fn mean_colour(image: &RgbImage) -> Vec<f32> {
    let mut sums = [0f64; 3];
    for pixel in image.pixels() {
        for (sum, value) in sums.iter_mut().zip(pixel.0) {
            *sum += f64::from(value);
        }
    }
    let count = f64::from(image.width()) * f64::from(image.height()) * 255.0;
    sums.iter().map(|sum| (sum / count) as f32).collect()
}

impl ImageEmbedder for MeanColourEmbedder {
    fn input_len(&self) -> usize {
        3
    }

    fn preprocess(&self, image: &RgbImage) -> Result<Vec<f32>, String> {
        let colour = mean_colour(image);
        let is = |target: [f32; 3]| colour.iter().zip(target).all(|(c, t)| (c - t).abs() < 0.01);
        if let Some(gate) = &self.hang_on_green {
            if is([0.0, 1.0, 0.0]) {
                gate.wait();
            }
        }
        if self.panic_on_blue && is([0.0, 0.0, 1.0]) {
            panic!("test decoder exploded on a blue image");
        }
        Ok(colour)
    }

    fn embed(&self, inputs: &[&[f32]]) -> Result<Vec<Vec<f32>>, String> {
        if self.always_fail {
            return Err("model is broken".to_string());
        }
        if let Some(threshold) = self.reject_red_above {
            if inputs.iter().any(|input| input[0] > threshold) {
                return Err("input rejected".to_string());
            }
        }
        self.batches.fetch_add(1, Ordering::SeqCst);
        if let Some(cancel) = &self.cancel_after_first_batch {
            cancel.store(true, Ordering::SeqCst);
        }
        Ok(inputs.iter().map(|input| input.to_vec()).collect())
    }
}

/// Keeps every commit; can be told to refuse commits.
#[derive(Default)]
pub struct VecSink {
    pub commits: Vec<Commit>,
    pub refuse_after: Option<usize>,
    /// Each commit takes this long (a big library's commit rewrites a large index file).
    pub commit_takes: Option<std::time::Duration>,
}

#[derive(Debug, thiserror::Error)]
#[error("sink refused commit number {0}")]
pub struct Refused(usize);

impl Sink for VecSink {
    type Error = Refused;

    fn commit(&mut self, commit: Commit) -> Result<(), Refused> {
        if self
            .refuse_after
            .is_some_and(|limit| self.commits.len() >= limit)
        {
            return Err(Refused(self.commits.len()));
        }
        if let Some(delay) = self.commit_takes {
            std::thread::sleep(delay);
        }
        self.commits.push(commit);
        Ok(())
    }
}

impl VecSink {
    pub fn indexed(&self) -> Vec<&IndexedPhoto> {
        self.commits
            .iter()
            .flat_map(|commit| &commit.indexed)
            .collect()
    }

    pub fn failed(&self) -> Vec<&magpie_indexer::FileFailure> {
        self.commits
            .iter()
            .flat_map(|commit| &commit.failed)
            .collect()
    }

    /// The catalog's view after applying every commit, as the planner wants it.
    pub fn known_files(&self) -> Vec<KnownFile> {
        let mut known: std::collections::BTreeMap<PathBuf, KnownFile> = Default::default();
        for commit in &self.commits {
            for photo in &commit.indexed {
                known.insert(
                    photo.file.path.clone(),
                    KnownFile {
                        path: photo.file.path.clone(),
                        size: photo.file.size,
                        mtime_ns: photo.file.mtime_ns,
                        content_hash: Some(photo.content_hash),
                    },
                );
            }
            for file in &commit.skipped {
                known.insert(
                    file.path.clone(),
                    KnownFile {
                        path: file.path.clone(),
                        size: file.size,
                        mtime_ns: file.mtime_ns,
                        content_hash: None,
                    },
                );
            }
            for failure in &commit.failed {
                if let Some(stat) = failure.stat {
                    known.insert(
                        failure.path.clone(),
                        KnownFile {
                            path: failure.path.clone(),
                            size: stat.size,
                            mtime_ns: stat.mtime_ns,
                            content_hash: None,
                        },
                    );
                }
            }
            for moved in &commit.moved {
                if let Some(mut record) = known.remove(&moved.from) {
                    record.path = moved.to.path.clone();
                    record.size = moved.to.size;
                    record.mtime_ns = moved.to.mtime_ns;
                    known.insert(record.path.clone(), record);
                }
            }
            for touched in &commit.touched {
                if let Some(record) = known.get_mut(&touched.file.path) {
                    record.size = touched.file.size;
                    record.mtime_ns = touched.file.mtime_ns;
                }
            }
            for removed in &commit.removed {
                known.remove(removed);
            }
        }
        known.into_values().collect()
    }
}

/// Writes a solid-colour PNG.
pub fn solid_png(path: &Path, width: u32, height: u32, rgb: [u8; 3]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    RgbImage::from_pixel(width, height, image::Rgb(rgb))
        .save_with_format(path, image::ImageFormat::Png)
        .unwrap();
}

/// Writes a solid-colour JPEG.
pub fn solid_jpeg(path: &Path, width: u32, height: u32, rgb: [u8; 3]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    RgbImage::from_pixel(width, height, image::Rgb(rgb))
        .save_with_format(path, image::ImageFormat::Jpeg)
        .unwrap();
}

/// `../shared/data`, or `None` after a visible skip (`magpie_testkit`).
pub fn shared_data() -> Option<PathBuf> {
    magpie_testkit::shared_path_or_skip("data")
}
