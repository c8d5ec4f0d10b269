//! The OCR engine: three ONNX Runtime sessions and RapidOCR's pipeline around them.
//!
//! One image goes: shrink to `max_side_len` (huge images are read at 2000 px, as RapidOCR does)
//! → black rows above and below very flat images → detection → boxes in reading order → each box
//! cropped and rectified → quarter-turned when tall → orientation classifier (turned over when it
//! is sure the crop is upside down) → recognition in batches of similar widths → lines whose
//! confidence reaches `text_score`, with their boxes mapped back to the image's own pixels.
//!
//! An image whose pixels are all (nearly) one colour has no text and skips the networks.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use image::RgbImage;
use magpie_models::device::build_session;
use magpie_models::{DecodeOptions, DecodedImage, ProviderReport, SessionConfig};
use ort::session::{Session, SessionInputValue};
use ort::value::Tensor;
use serde::Serialize;

use crate::detect::{boxes_from_map, detector_input, DetectedBox, DetectorConfig};
use crate::error::{Error, Result};
use crate::geometry::{crop_size, Quad};
use crate::imageops::{
    pad_vertically, resize_linear, rotate180, rotate90_ccw, warp_perspective_cubic,
};
use crate::model::OcrModel;
use crate::recognize::{aspect, by_aspect, ctc_decode, line_batch_tensor, Charset};

/// Settings of the whole pipeline. [`OcrOptions::rapidocr`] is RapidOCR 1.4.4's `config.yaml`
/// exactly (the parity test holds the engine to RapidOCR with it); the default departs from it in
/// three places, each measured on the test set against the ground truth (BENCHMARKS.md, "OCR"):
/// long lines are classified window by window, dropped spaces are put back, and lines are
/// recognised one at a time at their own width.
#[derive(Debug, Clone, PartialEq)]
pub struct OcrOptions {
    /// Lines below this confidence are dropped.
    pub text_score: f64,
    /// Run the 0/180° orientation classifier.
    pub use_classifier: bool,
    /// Images this short or shorter get black rows above and below before detection.
    pub min_height: u32,
    /// …and so do images wider than this many times their height.
    pub width_height_ratio: f64,
    /// Longer sides beyond this are shrunk to it first.
    pub max_side_len: u32,
    /// Shorter sides below this are enlarged to it first.
    pub min_side_len: u32,
    pub detector: DetectorConfig,
    /// Crops the classifier must be this sure of before they are turned over.
    pub classifier_threshold: f32,
    /// Classify a line longer than the classifier's input (4 : 1) in windows of that shape and
    /// average their verdicts, instead of squeezing the whole line into 192 × 48 as RapidOCR
    /// does. Squeezed, a long line of a screenshot is unreadable, and the classifier confidently
    /// turns about one in four of them upside down, which loses the whole line.
    pub classifier_windows: bool,
    pub classifier_batch: usize,
    /// Put a space between two characters where the space class reached this probability
    /// (see [`crate::recognize::ctc_decode`]); `None` decodes as RapidOCR does.
    pub space_threshold: Option<f32>,
    /// Crops are recognised at least this wide (RapidOCR: 320 px, for every batch); narrower
    /// ones are padded with zeros.
    pub recognizer_min_width: u32,
    /// Crops recognised in one run. Every crop of a batch is padded to the widest, so one at a
    /// time does the least work on CPU, and reads a little better: zero padding disturbs the
    /// recogniser.
    pub recognizer_batch: usize,
}

impl OcrOptions {
    /// RapidOCR 1.4.4's defaults, every one.
    pub fn rapidocr() -> Self {
        Self {
            text_score: 0.5,
            use_classifier: true,
            min_height: 30,
            width_height_ratio: 8.0,
            max_side_len: 2000,
            min_side_len: 30,
            detector: DetectorConfig::default(),
            classifier_threshold: 0.9,
            classifier_windows: false,
            classifier_batch: 6,
            space_threshold: None,
            recognizer_min_width: 320,
            recognizer_batch: 6,
        }
    }
}

impl Default for OcrOptions {
    fn default() -> Self {
        Self {
            classifier_windows: true,
            space_threshold: Some(0.05),
            recognizer_min_width: RECOGNIZER_HEIGHT,
            recognizer_batch: 1,
            ..Self::rapidocr()
        }
    }
}

const CLASSIFIER_SHAPE: (u32, u32) = (48, 192);
const RECOGNIZER_HEIGHT: u32 = 48;

/// One line of text.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TextLine {
    pub text: String,
    /// Mean probability of the line's characters.
    pub confidence: f32,
    /// Top-left, top-right, bottom-right, bottom-left, in the image's pixels.
    pub corners: [[f32; 2]; 4],
}

/// Time spent in each network for one image.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Timings {
    pub detect: Duration,
    pub classify: Duration,
    pub recognize: Duration,
}

/// What was read in one image.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct OcrResult {
    pub width: u32,
    pub height: u32,
    /// Lines in reading order.
    pub lines: Vec<TextLine>,
    /// Text regions beyond the detector's `max_candidates` that were not read (an image with
    /// thousands of them — a page of tiny print, a noise pattern — is capped, and says so).
    pub dropped_regions: usize,
    #[serde(skip)]
    pub timings: Timings,
}

impl OcrResult {
    /// All the text, one line per line.
    pub fn text(&self) -> String {
        self.lines
            .iter()
            .map(|l| l.text.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// One network and its session.
#[derive(Debug)]
struct Network {
    file: PathBuf,
    session: Mutex<Session>,
    input: String,
    output: String,
    provider: ProviderReport,
}

impl Network {
    fn load(file: &Path, config: &SessionConfig) -> Result<Self> {
        let (session, provider) = build_session(file, config)?;
        let input = session
            .inputs()
            .first()
            .map(|o| o.name().to_string())
            .ok_or_else(|| Error::model(file, "the network has no input"))?;
        let output = session
            .outputs()
            .first()
            .map(|o| o.name().to_string())
            .ok_or_else(|| Error::model(file, "the network has no output"))?;
        Ok(Self {
            file: file.to_path_buf(),
            session: Mutex::new(session),
            input,
            output,
            provider,
        })
    }

    /// Runs on one float32 NCHW tensor; returns the output's shape and values.
    fn run(&self, shape: [usize; 4], data: Vec<f32>) -> Result<(Vec<usize>, Vec<f32>)> {
        let inference_error = |reason: String| Error::Inference {
            path: self.file.clone(),
            reason,
        };
        let tensor = Tensor::from_array((shape.map(|d| d as i64).to_vec(), data))
            .map_err(|e| inference_error(e.to_string()))?;
        let inputs: Vec<(Cow<'_, str>, SessionInputValue<'_>)> =
            vec![(Cow::from(self.input.as_str()), tensor.into())];
        let mut session = self
            .session
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let outputs = session
            .run(inputs)
            .map_err(|e| inference_error(e.to_string()))?;
        let value = outputs
            .get(self.output.as_str())
            .ok_or_else(|| inference_error(format!("output `{}` missing", self.output)))?;
        let (out_shape, values) = value
            .try_extract_tensor::<f32>()
            .map_err(|e| inference_error(format!("output is not float32: {e}")))?;
        let dims = out_shape
            .iter()
            .map(|&d| usize::try_from(d).unwrap_or(0))
            .collect();
        Ok((dims, values.to_vec()))
    }
}

/// A loaded OCR model, ready to read images. Sessions are behind mutexes, so one engine may be
/// shared by threads (each network runs one image at a time, on all the cores ONNX Runtime uses).
#[derive(Debug)]
pub struct OcrEngine {
    detector: Network,
    classifier: Network,
    recognizer: Network,
    charset: Charset,
    options: OcrOptions,
    model_name: String,
}

impl OcrEngine {
    /// Opens the three networks of `model`. ONNX Runtime must have been started
    /// (`magpie_models::runtime::init`).
    pub fn load(model: &OcrModel, config: &SessionConfig, options: OcrOptions) -> Result<Self> {
        let detector = Network::load(&model.detector, config)?;
        let classifier = Network::load(&model.classifier, config)?;
        let recognizer = Network::load(&model.recognizer, config)?;
        let characters = {
            let session = recognizer
                .session
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let metadata = session
                .metadata()
                .map_err(|e| Error::model(&model.recognizer, e.to_string()))?;
            metadata.custom("character")
        };
        let characters = characters.ok_or_else(|| {
            Error::model(
                &model.recognizer,
                "the recognition network carries no `character` list in its ONNX metadata \
                 (PaddleOCR exports made for RapidOCR do)",
            )
        })?;
        let charset = Charset::from_metadata(&characters);
        if charset.is_empty() {
            return Err(Error::model(
                &model.recognizer,
                "the `character` list in the ONNX metadata is empty",
            ));
        }
        Ok(Self {
            detector,
            classifier,
            recognizer,
            charset,
            options,
            model_name: model.name.clone(),
        })
    }

    pub fn options(&self) -> &OcrOptions {
        &self.options
    }

    pub fn model_name(&self) -> &str {
        &self.model_name
    }

    /// Number of recognition classes (blank + characters + space).
    pub fn classes(&self) -> usize {
        self.charset.len()
    }

    /// The execution provider of each network: detector, classifier, recogniser.
    pub fn providers(&self) -> [&ProviderReport; 3] {
        [
            &self.detector.provider,
            &self.classifier.provider,
            &self.recognizer.provider,
        ]
    }

    /// Decodes an image file (EXIF orientation applied) and reads it; boxes are in the pixels of
    /// the image as displayed. Large JPEGs are decoded at a reduced DCT scale when the detector
    /// would shrink them anyway and `scaled_decode` is on.
    pub fn read_file(&self, path: &Path, scaled_decode: bool) -> Result<OcrResult> {
        let options = if scaled_decode {
            DecodeOptions {
                min_long_side: self.options.max_side_len,
                ..DecodeOptions::default()
            }
        } else {
            DecodeOptions::default()
        };
        let decoded = magpie_models::decode_image_file(path, &options)?;
        self.read_decoded(&decoded)
    }

    /// Reads a decoded image; boxes are mapped to its full-resolution size when it was decoded
    /// at a reduced scale.
    pub fn read_decoded(&self, decoded: &DecodedImage) -> Result<OcrResult> {
        let mut result = self.read(&decoded.rgb)?;
        let (width, height) = decoded.rgb.dimensions();
        if (width, height) != (decoded.original_width, decoded.original_height) {
            let sx = decoded.original_width as f32 / width as f32;
            let sy = decoded.original_height as f32 / height as f32;
            for line in &mut result.lines {
                for corner in &mut line.corners {
                    corner[0] = (corner[0] * sx).min(decoded.original_width as f32);
                    corner[1] = (corner[1] * sy).min(decoded.original_height as f32);
                }
            }
            result.width = decoded.original_width;
            result.height = decoded.original_height;
        }
        Ok(result)
    }

    /// Reads the text of an RGB image.
    pub fn read(&self, image: &RgbImage) -> Result<OcrResult> {
        let (raw_width, raw_height) = image.dimensions();
        let mut result = OcrResult {
            width: raw_width,
            height: raw_height,
            ..OcrResult::default()
        };
        if raw_width == 0 || raw_height == 0 || is_uniform(image) {
            return Ok(result);
        }
        let options = &self.options;
        // Huge images are read at `max_side_len`, tiny ones enlarged to `min_side_len`.
        let mut working: Cow<'_, RgbImage> = Cow::Borrowed(image);
        let (mut ratio_w, mut ratio_h) = (1.0f64, 1.0f64);
        for (limit, shrink) in [(options.max_side_len, true), (options.min_side_len, false)] {
            let (w, h) = working.dimensions();
            let applies = if shrink {
                w.max(h) > limit
            } else {
                w.min(h) < limit
            };
            if !applies {
                continue;
            }
            let Some((new_w, new_h)) = side_limited_size(w, h, limit, shrink) else {
                return Ok(result);
            };
            working = Cow::Owned(resize_linear(&working, new_w, new_h));
            ratio_w *= f64::from(w) / f64::from(new_w);
            ratio_h *= f64::from(h) / f64::from(new_h);
        }
        // Flat images get black rows above and below, so the detector sees a sensible shape.
        let (w, h) = working.dimensions();
        let mut padding_top = 0u32;
        if h <= options.min_height
            || (options.width_height_ratio > 0.0
                && f64::from(w) / f64::from(h) > options.width_height_ratio)
        {
            let new_h =
                ((f64::from(w) / options.width_height_ratio) as u32).max(options.min_height) * 2;
            padding_top = new_h.abs_diff(h) / 2;
            working = Cow::Owned(pad_vertically(&working, padding_top));
        }

        let started = Instant::now();
        let detection = self.detect(&working)?;
        result.timings.detect = started.elapsed();
        result.dropped_regions = detection.1;
        if detection.1 > 0 {
            tracing::warn!(
                regions = detection.1 + options.detector.max_candidates,
                "more text regions than the detector reads ({}); the smallest {} were left out",
                options.detector.max_candidates,
                detection.1
            );
        }
        let boxes = sorted_boxes(detection.0);
        if boxes.is_empty() {
            return Ok(result);
        }
        let mut crops: Vec<RgbImage> = Vec::with_capacity(boxes.len());
        for detected in &boxes {
            crops.push(crop_box(&working, &detected.corners)?);
        }
        if options.use_classifier {
            let started = Instant::now();
            self.classify(&mut crops)?;
            result.timings.classify = started.elapsed();
        }
        let started = Instant::now();
        let recognised = self.recognize(&crops)?;
        result.timings.recognize = started.elapsed();

        for (detected, (text, confidence)) in boxes.iter().zip(recognised) {
            if confidence < options.text_score {
                continue;
            }
            let corners = detected.corners.map(|p| {
                let x = (p.x as f32 * ratio_w as f32).clamp(0.0, raw_width as f32);
                let y = ((p.y as f32 - padding_top as f32) * ratio_h as f32)
                    .clamp(0.0, raw_height as f32);
                [x, y]
            });
            result.lines.push(TextLine {
                text,
                confidence: confidence as f32,
                corners,
            });
        }
        Ok(result)
    }

    /// Boxes in `image`'s coordinates, and how many regions were left out.
    fn detect(&self, image: &RgbImage) -> Result<(Vec<DetectedBox>, usize)> {
        let config = &self.options.detector;
        let Some((data, width, height)) = detector_input(image, config) else {
            return Ok((Vec::new(), 0));
        };
        let (shape, map) = self
            .detector
            .run([1, 3, height as usize, width as usize], data)?;
        let (map_h, map_w) = match shape.as_slice() {
            [1, 1, h, w] => (*h, *w),
            _ => {
                return Err(Error::Inference {
                    path: self.detector.file.clone(),
                    reason: format!("probability map of shape {shape:?}, expected [1, 1, H, W]"),
                })
            }
        };
        let detection = boxes_from_map(&map, map_w, map_h, image.width(), image.height(), config);
        Ok((detection.boxes, detection.dropped_regions))
    }

    /// Turns over the crops the classifier is sure are upside down.
    fn classify(&self, crops: &mut [RgbImage]) -> Result<()> {
        let (height, width) = CLASSIFIER_SHAPE;
        // What the classifier looks at: each crop whole, or long crops cut into windows of the
        // classifier's own shape; `owner[k]` is the crop window `k` belongs to.
        let window_aspect = f64::from(width) / f64::from(height);
        let mut windows: Vec<Cow<'_, RgbImage>> = Vec::with_capacity(crops.len());
        let mut owner: Vec<usize> = Vec::with_capacity(crops.len());
        for (index, crop) in crops.iter().enumerate() {
            let pieces = (aspect(crop) / window_aspect).ceil() as u32;
            if !self.options.classifier_windows || pieces <= 1 {
                windows.push(Cow::Borrowed(crop));
                owner.push(index);
                continue;
            }
            let step = f64::from(crop.width()) / f64::from(pieces);
            for piece in 0..pieces {
                let x0 = (f64::from(piece) * step) as u32;
                let x1 = ((f64::from(piece + 1) * step) as u32).min(crop.width());
                let window =
                    image::imageops::crop_imm(crop, x0, 0, (x1 - x0).max(1), crop.height());
                windows.push(Cow::Owned(window.to_image()));
                owner.push(index);
            }
        }
        // Sum of the windows' upside-down probability and how many windows, per crop.
        let mut upside_down = vec![(0.0f64, 0usize); crops.len()];
        let order = by_aspect(&windows);
        for batch in order.chunks(self.options.classifier_batch.max(1)) {
            let data = line_batch_tensor(&windows, batch, height, width);
            let (shape, probabilities) = self
                .classifier
                .run([batch.len(), 3, height as usize, width as usize], data)?;
            if shape.len() != 2 || shape[0] != batch.len() || shape[1] < 2 {
                return Err(Error::Inference {
                    path: self.classifier.file.clone(),
                    reason: format!("output of shape {shape:?}, expected [{}, 2]", batch.len()),
                });
            }
            for (k, &window) in batch.iter().enumerate() {
                let row = &probabilities[k * shape[1]..(k + 1) * shape[1]];
                let entry = &mut upside_down[owner[window]];
                // A window adds its "180" probability only where "180" is its verdict (the
                // argmax). A crop read whole is then turned exactly when RapidOCR turns it (the
                // verdict is "180" and its score passes the threshold); a windowed crop when the
                // mean over its windows passes it.
                let (label, _) = argmax(row);
                entry.0 += if label == 1 { f64::from(row[1]) } else { 0.0 };
                entry.1 += 1;
            }
        }
        drop(windows);
        for (crop, (sum, count)) in crops.iter_mut().zip(upside_down) {
            if count > 0 && sum / count as f64 > f64::from(self.options.classifier_threshold) {
                *crop = rotate180(crop);
            }
        }
        Ok(())
    }

    /// Text and confidence of each crop, in the crops' order.
    fn recognize(&self, crops: &[RgbImage]) -> Result<Vec<(String, f64)>> {
        let order = by_aspect(crops);
        let mut out = vec![(String::new(), 0.0); crops.len()];
        let height = RECOGNIZER_HEIGHT;
        for batch in order.chunks(self.options.recognizer_batch.max(1)) {
            let mut max_ratio =
                f64::from(self.options.recognizer_min_width.max(1)) / f64::from(height);
            for &index in batch {
                max_ratio = max_ratio.max(aspect(&crops[index]));
            }
            let width = (f64::from(height) * max_ratio) as u32;
            let data = line_batch_tensor(crops, batch, height, width);
            let (shape, probabilities) = self
                .recognizer
                .run([batch.len(), 3, height as usize, width as usize], data)?;
            let classes = self.charset.len();
            if shape.len() != 3 || shape[0] != batch.len() || shape[2] != classes {
                return Err(Error::Inference {
                    path: self.recognizer.file.clone(),
                    reason: format!(
                        "output of shape {shape:?}, expected [{}, steps, {classes}] (the character list in the metadata does not fit the network)",
                        batch.len()
                    ),
                });
            }
            let per_line = shape[1] * classes;
            for (k, &index) in batch.iter().enumerate() {
                let decoded = ctc_decode(
                    &probabilities[k * per_line..(k + 1) * per_line],
                    classes,
                    &self.charset,
                    self.options.space_threshold,
                );
                out[index] = (decoded.text, decoded.confidence);
            }
        }
        Ok(out)
    }
}

/// The first maximum and its value.
fn argmax(values: &[f32]) -> (usize, f32) {
    let mut best = (0, f32::NEG_INFINITY);
    for (i, &v) in values.iter().enumerate() {
        if v > best.1 {
            best = (i, v);
        }
    }
    best
}

/// RapidOCR's `reduce_max_side` / `increase_min_side`: the longer (or shorter) side to `limit`,
/// both sides then to a multiple of 32.
fn side_limited_size(width: u32, height: u32, limit: u32, shrink: bool) -> Option<(u32, u32)> {
    let (w, h) = (f64::from(width), f64::from(height));
    let limit = f64::from(limit);
    let ratio = if shrink {
        if h > w {
            limit / h
        } else {
            limit / w
        }
    } else if h < w {
        limit / h
    } else {
        limit / w
    };
    let new_h = ((h * ratio).trunc() / 32.0).round_ties_even() * 32.0;
    let new_w = ((w * ratio).trunc() / 32.0).round_ties_even() * 32.0;
    if new_h <= 0.0 || new_w <= 0.0 {
        return None;
    }
    Some((new_w as u32, new_h as u32))
}

/// Whether every pixel is within a couple of levels of every other (a blank image).
fn is_uniform(image: &RgbImage) -> bool {
    let raw = image.as_raw();
    let (mut low, mut high) = ([255u8; 3], [0u8; 3]);
    for pixel in raw.chunks_exact(3) {
        for c in 0..3 {
            low[c] = low[c].min(pixel[c]);
            high[c] = high[c].max(pixel[c]);
        }
        if (0..3).any(|c| high[c] - low[c] > 2) {
            return false;
        }
    }
    true
}

/// RapidOCR's `sorted_boxes`: by the top-left corner's y then x, then neighbours less than 10 px
/// apart vertically are put left to right.
fn sorted_boxes(mut boxes: Vec<DetectedBox>) -> Vec<DetectedBox> {
    let key = |b: &DetectedBox| (b.corners[0].y as f32, b.corners[0].x as f32);
    boxes.sort_by(|a, b| {
        let (ka, kb) = (key(a), key(b));
        ka.0.total_cmp(&kb.0).then(ka.1.total_cmp(&kb.1))
    });
    for i in 0..boxes.len().saturating_sub(1) {
        for j in (0..=i).rev() {
            let (next, this) = (key(&boxes[j + 1]), key(&boxes[j]));
            if (next.0 - this.0).abs() < 10.0 && next.0.is_finite() && next.1 < this.1 {
                boxes.swap(j, j + 1);
            } else {
                break;
            }
        }
    }
    boxes
}

/// The box rectified onto an upright rectangle; tall results (height ≥ 1.5 × width) are turned a
/// quarter counter-clockwise, since a vertical line of Latin text is far likelier than a column
/// of stacked characters.
fn crop_box(image: &RgbImage, corners: &Quad) -> Result<RgbImage> {
    let (width, height) = crop_size(corners);
    let (width, height) = (width.max(1), height.max(1));
    let crop = warp_perspective_cubic(image, corners, width, height).unwrap_or_else(|| {
        // Degenerate corners cannot happen after the size filter; an empty crop reads as nothing.
        RgbImage::new(width as u32, height as u32)
    });
    if height as f64 / width as f64 >= 1.5 {
        Ok(rotate90_ccw(&crop))
    } else {
        Ok(crop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::Point;

    fn boxed(x: f64, y: f64) -> DetectedBox {
        DetectedBox {
            corners: [
                Point::new(x, y),
                Point::new(x + 10.0, y),
                Point::new(x + 10.0, y + 5.0),
                Point::new(x, y + 5.0),
            ],
            score: 1.0,
        }
    }

    #[test]
    fn reading_order_is_rows_then_left_to_right() {
        let sorted = sorted_boxes(vec![boxed(50.0, 12.0), boxed(5.0, 30.0), boxed(10.0, 8.0)]);
        let xs: Vec<f64> = sorted.iter().map(|b| b.corners[0].x).collect();
        // (10, 8) and (50, 12) are one row; (5, 30) is the next.
        assert_eq!(xs, vec![10.0, 50.0, 5.0]);
        let sorted = sorted_boxes(vec![boxed(50.0, 8.0), boxed(10.0, 12.0)]);
        let xs: Vec<f64> = sorted.iter().map(|b| b.corners[0].x).collect();
        assert_eq!(xs, vec![10.0, 50.0]);
    }

    #[test]
    fn side_limits_round_to_multiples_of_32() {
        assert_eq!(
            side_limited_size(4000, 3000, 2000, true),
            // 2000 / 32 = 62.5 rounds half to even: 62 × 32.
            Some((1984, 1504))
        );
        assert_eq!(side_limited_size(600, 20, 30, false), Some((896, 32)));
        assert_eq!(side_limited_size(10, 3, 30, false), Some((96, 32)));
    }

    #[test]
    fn blank_images_are_uniform_and_others_are_not() {
        let mut image = RgbImage::from_pixel(40, 30, image::Rgb([200, 200, 201]));
        assert!(is_uniform(&image));
        image.put_pixel(3, 3, image::Rgb([10, 10, 10]));
        assert!(!is_uniform(&image));
    }

    #[test]
    fn tall_crops_are_turned() {
        let image = RgbImage::from_pixel(100, 100, image::Rgb([9, 9, 9]));
        let tall = [
            Point::new(10.0, 10.0),
            Point::new(20.0, 10.0),
            Point::new(20.0, 60.0),
            Point::new(10.0, 60.0),
        ];
        assert_eq!(crop_box(&image, &tall).unwrap().dimensions(), (50, 10));
    }
}
