//! Shared by the OCR tests: ONNX Runtime, the real PP-OCRv4 model (imported from the
//! `rapidocr_onnxruntime` wheel in `.venv`), the generated test set and RapidOCR's reading of it
//! (`scripts/testocr/make`), and the geometry used to compare two readings.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::OnceLock;

use magpie_models::runtime::{self, RuntimeOptions};
use magpie_models::store::ModelStore;
use magpie_models::{Device, SessionConfig};
use magpie_ocr::{OcrEngine, OcrModel, OcrOptions};
use serde::Deserialize;

pub fn start_runtime() {
    runtime::init(&RuntimeOptions {
        explicit: Some(magpie_testkit::ort_lib()),
        config: None,
    })
    .expect("ONNX Runtime starts");
}

/// A model store for the OCR tests, under the test data folder.
pub fn test_store() -> ModelStore {
    ModelStore::new(magpie_testkit::testdata_dir().join("ocr").join("store"))
}

/// PP-OCRv4 imported from the `.venv`'s rapidocr_onnxruntime (once per test binary).
pub fn model() -> &'static OcrModel {
    static MODEL: OnceLock<OcrModel> = OnceLock::new();
    MODEL.get_or_init(|| {
        let python = magpie_testkit::python();
        magpie_ocr::model::import_rapidocr(&test_store(), Some(&python)).unwrap_or_else(|e| {
            panic!("cannot import the PP-OCRv4 models from .venv (run scripts/test, which runs scripts/setup): {e}")
        })
    })
}

fn load_engine(options: OcrOptions) -> OcrEngine {
    start_runtime();
    let config = SessionConfig {
        device: Device::Cpu,
        ..SessionConfig::default()
    };
    OcrEngine::load(model(), &config, options).expect("the OCR model loads")
}

/// The engine with RapidOCR 1.4.4's settings exactly (`OcrOptions::rapidocr`).
pub fn rapidocr_engine() -> &'static OcrEngine {
    static ENGINE: OnceLock<OcrEngine> = OnceLock::new();
    ENGINE.get_or_init(|| load_engine(OcrOptions::rapidocr()))
}

/// The engine as Magpie runs it (`OcrOptions::default`).
pub fn engine() -> &'static OcrEngine {
    static ENGINE: OnceLock<OcrEngine> = OnceLock::new();
    ENGINE.get_or_init(|| load_engine(OcrOptions::default()))
}

#[derive(Debug, Clone, Deserialize)]
pub struct TruthLine {
    pub text: String,
    #[serde(rename = "box")]
    pub corners: Vec<[f64; 2]>,
    pub care: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TruthImage {
    pub file: String,
    pub kind: String,
    pub rotation: u32,
    pub background: String,
    pub lines: Vec<TruthLine>,
    #[serde(default)]
    pub ignore: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Truth {
    pub images: Vec<TruthImage>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ReferenceLine {
    #[serde(rename = "box")]
    pub corners: Vec<[f64; 2]>,
    pub text: String,
    pub score: f64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ReferenceImage {
    pub file: String,
    #[serde(default)]
    pub lines: Vec<ReferenceLine>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub seconds: f64,
}

/// The generated CI set: its folder, ground truth and RapidOCR's reading.
pub fn ci_set() -> (PathBuf, Truth, Vec<ReferenceImage>) {
    let dir = magpie_testkit::testdata_dir().join("ocr").join("ci");
    let truth_path = dir.join("truth.json");
    let reference_path = dir.join("reference.json");
    assert!(
        truth_path.is_file() && reference_path.is_file(),
        "the OCR test set {} is missing: run scripts/test (it runs scripts/testocr/make)",
        dir.display()
    );
    let truth: Truth = serde_json::from_str(&std::fs::read_to_string(&truth_path).unwrap())
        .expect("truth.json parses");
    let reference: Vec<ReferenceImage> =
        serde_json::from_str(&std::fs::read_to_string(&reference_path).unwrap())
            .expect("reference.json parses");
    (dir, truth, reference)
}

/// Whitespace runs to one space, ends trimmed.
pub fn normalise(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Area of a polygon (shoelace, absolute).
fn area(polygon: &[[f64; 2]]) -> f64 {
    let n = polygon.len();
    let mut twice = 0.0;
    for i in 0..n {
        let (a, b) = (polygon[i], polygon[(i + 1) % n]);
        twice += a[0] * b[1] - b[0] * a[1];
    }
    (twice / 2.0).abs()
}

/// Makes a polygon counter-clockwise in a y-up sense (positive shoelace).
fn oriented(mut polygon: Vec<[f64; 2]>) -> Vec<[f64; 2]> {
    let n = polygon.len();
    let mut twice = 0.0;
    for i in 0..n {
        let (a, b) = (polygon[i], polygon[(i + 1) % n]);
        twice += a[0] * b[1] - b[0] * a[1];
    }
    if twice < 0.0 {
        polygon.reverse();
    }
    polygon
}

/// Intersection of two convex polygons (Sutherland–Hodgman).
fn clip(subject: &[[f64; 2]], clipper: &[[f64; 2]]) -> Vec<[f64; 2]> {
    let mut output = subject.to_vec();
    let n = clipper.len();
    for i in 0..n {
        let (a, b) = (clipper[i], clipper[(i + 1) % n]);
        let inside =
            |p: [f64; 2]| (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0]) >= 0.0;
        let intersect = |p: [f64; 2], q: [f64; 2]| {
            let (x1, y1, x2, y2) = (p[0], p[1], q[0], q[1]);
            let (x3, y3, x4, y4) = (a[0], a[1], b[0], b[1]);
            let d = (x1 - x2) * (y3 - y4) - (y1 - y2) * (x3 - x4);
            if d.abs() < 1e-12 {
                return p;
            }
            let t = ((x1 - x3) * (y3 - y4) - (y1 - y3) * (x3 - x4)) / d;
            [x1 + t * (x2 - x1), y1 + t * (y2 - y1)]
        };
        let input = std::mem::take(&mut output);
        if input.is_empty() {
            break;
        }
        for j in 0..input.len() {
            let (current, previous) = (input[j], input[(j + input.len() - 1) % input.len()]);
            if inside(current) {
                if !inside(previous) {
                    output.push(intersect(previous, current));
                }
                output.push(current);
            } else if inside(previous) {
                output.push(intersect(previous, current));
            }
        }
    }
    output
}

/// Intersection over union of two convex quads.
pub fn iou(a: &[[f64; 2]], b: &[[f64; 2]]) -> f64 {
    let (a, b) = (oriented(a.to_vec()), oriented(b.to_vec()));
    let inter = area(&clip(&a, &b));
    let union = area(&a) + area(&b) - inter;
    if union <= 0.0 {
        0.0
    } else {
        inter / union
    }
}

/// How one engine's lines compare with a reference's lines on one image.
#[derive(Debug, Default, Clone, Copy)]
pub struct Agreement {
    /// Reference lines.
    pub lines: usize,
    /// … with a line of ours whose box overlaps with IoU ≥ 0.9.
    pub boxes_match: usize,
    /// … whose text is also the same after whitespace normalisation.
    pub both_match: usize,
    /// Lines of ours that overlap no reference line.
    pub extra: usize,
}

impl std::ops::AddAssign for Agreement {
    fn add_assign(&mut self, other: Self) {
        self.lines += other.lines;
        self.boxes_match += other.boxes_match;
        self.both_match += other.both_match;
        self.extra += other.extra;
    }
}

/// Each reference line is paired with our best-overlapping line.
pub fn agreement(
    ours: &[(String, Vec<[f64; 2]>)],
    reference: &[(String, Vec<[f64; 2]>)],
    mismatches: &mut Vec<String>,
) -> Agreement {
    let mut result = Agreement {
        lines: reference.len(),
        ..Agreement::default()
    };
    let mut used = vec![false; ours.len()];
    for (text, corners) in reference {
        let best = ours
            .iter()
            .enumerate()
            .map(|(i, (_, c))| (i, iou(corners, c)))
            .max_by(|a, b| a.1.total_cmp(&b.1));
        match best {
            Some((i, overlap)) if overlap >= 0.9 => {
                used[i] = true;
                result.boxes_match += 1;
                if normalise(&ours[i].0) == normalise(text) {
                    result.both_match += 1;
                } else {
                    mismatches.push(format!("text {:?} vs reference {:?}", ours[i].0, text));
                }
            }
            Some((i, overlap)) => mismatches.push(format!(
                "box of {text:?}: best IoU {overlap:.3} (ours {:?})",
                ours[i].0
            )),
            None => mismatches.push(format!("{text:?}: no line of ours")),
        }
    }
    for (i, (text, corners)) in ours.iter().enumerate() {
        if !used[i] && reference.iter().all(|(_, c)| iou(corners, c) < 0.5) {
            result.extra += 1;
            mismatches.push(format!("extra line of ours {text:?}"));
        }
    }
    result
}
