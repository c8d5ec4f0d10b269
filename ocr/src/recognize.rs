//! Text recognition input and CTC decoding (RapidOCR's `TextRecognizer` and `CTCLabelDecode`),
//! and the orientation classifier's input (`TextClassifier`).
//!
//! Crops are resized to the network's height keeping their aspect ratio (bilinear, as
//! `cv2.resize`), normalised to [−1, 1], BGR, CHW, and padded with zeros on the right to the
//! widest crop of their batch; batches are formed from crops sorted by aspect ratio so that little
//! is padded. The recogniser's output is a softmax per time step over `blank + characters +
//! space`; greedy decoding keeps the most likely class per step, merges repeats, drops blanks, and
//! scores the line by the mean probability of the characters it kept.
//!
//! PP-OCR drops many of the spaces between Latin words ("library,this", "WhatTheReferenceisnot")
//! even though the space class is clearly above its usual level in the steps between the two
//! words. Greedy decoding can therefore be told to put a space wherever, between two kept
//! characters, the space's probability reached a threshold (`space_threshold`; RapidOCR has no
//! such step). On the Chromium screenshots of the test set this alone lifts word recall by about
//! seven points, with precision rising too (BENCHMARKS.md, "OCR").

use std::borrow::Borrow;

use image::RgbImage;

use crate::imageops::resize_linear;

/// The recogniser's character list: class 0 is the CTC blank, then the model's characters in
/// order, then a space (PaddleOCR's `use_space_char`).
#[derive(Debug, Clone, PartialEq)]
pub struct Charset {
    classes: Vec<String>,
}

impl Charset {
    /// From the `character` entry of the recognition model's ONNX metadata: one character per
    /// line, split as Python's `str.splitlines` splits.
    pub fn from_metadata(text: &str) -> Self {
        let mut classes = vec![String::new()];
        classes.extend(python_splitlines(text).into_iter().map(str::to_string));
        classes.push(" ".to_string());
        Self { classes }
    }

    /// Number of classes the model must output.
    pub fn len(&self) -> usize {
        self.classes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.classes.len() <= 2
    }

    fn get(&self, class: usize) -> &str {
        self.classes.get(class).map(String::as_str).unwrap_or("")
    }

    /// The space class: the last one.
    fn space(&self) -> usize {
        self.classes.len() - 1
    }
}

/// Python's `str.splitlines()`: the line boundaries it knows, `\r\n` as one, no empty last line.
fn python_splitlines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let boundary = matches!(
            c,
            '\n' | '\r'
                | '\u{0b}'
                | '\u{0c}'
                | '\u{1c}'
                | '\u{1d}'
                | '\u{1e}'
                | '\u{85}'
                | '\u{2028}'
                | '\u{2029}'
        );
        if !boundary {
            continue;
        }
        lines.push(&text[start..i]);
        let mut end = i + c.len_utf8();
        if c == '\r' {
            if let Some(&(j, '\n')) = chars.peek() {
                chars.next();
                end = j + 1;
            }
        }
        start = end;
    }
    if start < text.len() {
        lines.push(&text[start..]);
    }
    lines
}

/// A decoded line and its confidence (mean probability of the kept characters, 0 when none).
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    pub text: String,
    pub confidence: f64,
}

/// Greedy CTC decoding of one `[steps, classes]` softmax output. With a `space_threshold`, a
/// space is also put between two kept characters when the space class's probability reached the
/// threshold in a step between them (a step that kept nothing: a blank or a repeat), unless one
/// of the two is a space already. Inserted spaces do not count towards the confidence.
pub fn ctc_decode(
    probabilities: &[f32],
    classes: usize,
    charset: &Charset,
    space_threshold: Option<f32>,
) -> Decoded {
    let space = charset.space();
    let mut text = String::new();
    let mut kept: Vec<f32> = Vec::new();
    let mut previous: Option<usize> = None;
    let mut last_kept: Option<usize> = None;
    // Highest space probability since the last kept character.
    let mut space_in_gap = 0.0f32;
    for step in probabilities.chunks_exact(classes) {
        // NumPy's argmax: the first maximum.
        let (mut best, mut best_p) = (0usize, f32::NEG_INFINITY);
        for (class, &p) in step.iter().enumerate() {
            if p > best_p {
                best = class;
                best_p = p;
            }
        }
        if best != 0 && previous != Some(best) {
            if let (Some(threshold), Some(last)) = (space_threshold, last_kept) {
                if space_in_gap >= threshold && last != space && best != space {
                    text.push(' ');
                }
            }
            text.push_str(charset.get(best));
            kept.push(best_p);
            last_kept = Some(best);
            space_in_gap = 0.0;
        } else if let Some(&p) = step.get(space) {
            space_in_gap = space_in_gap.max(p);
        }
        previous = Some(best);
    }
    let confidence = if kept.is_empty() {
        0.0
    } else {
        // np.mean of float32 values in a list → float64 mean.
        kept.iter().map(|&p| f64::from(p)).sum::<f64>() / kept.len() as f64
    };
    Decoded { text, confidence }
}

/// The `batch.len() × 3 × height × width` input of the classifier or the recogniser: the crops
/// `crops[i]` for each `i` in `batch`, one [`write_line_tensor`] slot each.
pub fn line_batch_tensor<C: Borrow<RgbImage>>(
    crops: &[C],
    batch: &[usize],
    height: u32,
    width: u32,
) -> Vec<f32> {
    let slot = (3 * height * width) as usize;
    let mut data = vec![0.0f32; slot * batch.len()];
    for (out, &index) in data.chunks_exact_mut(slot).zip(batch) {
        write_line_tensor(crops[index].borrow(), height, width, width, out);
    }
    data
}

/// A crop resized to `height`, `ceil(height × aspect)` wide but at most `max_width`, normalised
/// and written into a zero-padded `3 × height × padded_width` slot.
pub fn write_line_tensor(
    crop: &RgbImage,
    height: u32,
    max_width: u32,
    padded_width: u32,
    out: &mut [f32],
) {
    let ratio = f64::from(crop.width()) / f64::from(crop.height());
    let wanted = (f64::from(height) * ratio).ceil();
    let width = if wanted > f64::from(max_width) {
        max_width
    } else {
        wanted as u32
    };
    let width = width.clamp(1, padded_width);
    let resized = resize_linear(crop, width, height);
    let plane = (height * padded_width) as usize;
    out.fill(0.0);
    for (x, y, pixel) in resized.enumerate_pixels() {
        let i = (y * padded_width + x) as usize;
        for (channel, value) in [pixel[2], pixel[1], pixel[0]].into_iter().enumerate() {
            // float32: x / 255, − 0.5, / 0.5.
            out[channel * plane + i] = (f32::from(value) / 255.0 - 0.5) / 0.5;
        }
    }
}

/// Aspect ratio (width / height) of a crop.
pub fn aspect(crop: &RgbImage) -> f64 {
    f64::from(crop.width()) / f64::from(crop.height())
}

/// Indices of `crops` in ascending aspect ratio (ties keep their order), as RapidOCR batches them.
pub fn by_aspect<C: Borrow<RgbImage>>(crops: &[C]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..crops.len()).collect();
    order.sort_by(|&a, &b| aspect(crops[a].borrow()).total_cmp(&aspect(crops[b].borrow())));
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charset_puts_blank_first_and_space_last() {
        let charset = Charset::from_metadata("a\nb\r\nc");
        assert_eq!(charset.len(), 5);
        assert_eq!(charset.get(1), "a");
        assert_eq!(charset.get(3), "c");
        assert_eq!(charset.get(4), " ");
        assert_eq!(python_splitlines("x\u{2028}y\n"), vec!["x", "y"]);
    }

    #[test]
    fn ctc_merges_repeats_and_drops_blanks() {
        let charset = Charset::from_metadata("h\ni");
        // classes: blank, h, i, space
        let steps: Vec<f32> = [
            [0.1, 0.8, 0.05, 0.05], // h
            [0.1, 0.7, 0.1, 0.1],   // h again: merged
            [0.9, 0.05, 0.0, 0.05], // blank
            [0.1, 0.6, 0.2, 0.1],   // h after a blank: kept
            [0.0, 0.0, 1.0, 0.0],   // i
        ]
        .concat();
        let decoded = ctc_decode(&steps, 4, &charset, None);
        assert_eq!(decoded.text, "hhi");
        assert!((decoded.confidence - (0.8 + 0.6 + 1.0) / 3.0).abs() < 1e-6);
        let empty = ctc_decode(&[1.0, 0.0, 0.0, 0.0], 4, &charset, Some(0.05));
        assert_eq!(
            empty,
            Decoded {
                text: String::new(),
                confidence: 0.0
            }
        );
    }

    #[test]
    fn spaces_the_model_almost_chose_are_put_back() {
        let charset = Charset::from_metadata("a\nb");
        // classes: blank, a, b, space
        let steps: Vec<f32> = [
            [0.1, 0.9, 0.0, 0.0],   // a
            [0.9, 0.0, 0.0, 0.1],   // blank, space at 0.1
            [0.1, 0.0, 0.9, 0.0],   // b
            [0.98, 0.0, 0.0, 0.02], // blank, space at 0.02
            [0.1, 0.9, 0.0, 0.0],   // a
            [0.2, 0.0, 0.0, 0.8],   // a space the model chose
            [0.9, 0.0, 0.0, 0.1],   // blank, space at 0.1: no second space
            [0.1, 0.0, 0.9, 0.0],   // b
        ]
        .concat();
        assert_eq!(ctc_decode(&steps, 4, &charset, None).text, "aba b");
        let spaced = ctc_decode(&steps, 4, &charset, Some(0.05));
        assert_eq!(spaced.text, "a ba b");
        // The inserted space is not a kept character: five of them, as without it.
        assert!((spaced.confidence - (0.9 * 4.0 + 0.8) / 5.0).abs() < 1e-6);
        assert_eq!(ctc_decode(&steps, 4, &charset, Some(0.01)).text, "a b a b");
    }

    #[test]
    fn line_tensors_keep_the_aspect_and_pad_with_zeros() {
        let crop = RgbImage::from_pixel(100, 20, image::Rgb([255, 0, 0]));
        let mut out = vec![1.0f32; 3 * 48 * 320];
        write_line_tensor(&crop, 48, 320, 320, &mut out);
        // 48 × 5 = 240 columns of red (BGR: channel 2 = 1.0, channel 0 = −1.0), then zeros.
        let plane = 48 * 320;
        assert_eq!(out[2 * plane + 239], 1.0);
        assert_eq!(out[239], -1.0);
        assert_eq!(out[2 * plane + 240], 0.0);
    }
}
