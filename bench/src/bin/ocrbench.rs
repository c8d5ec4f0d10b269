//! Magpie's OCR engine over a set of images, for `bench/ocr` (which runs RapidOCR and Tesseract on
//! the same images and computes the quality figures for all three from one script).
//!
//! Each image is read `--rounds` times (files in memory; decode + OCR timed, models loaded
//! beforehand, one warm-up read of the first image); the lines of the last round and every
//! round's seconds are printed as JSON on stdout, with the time spent in each network.
//!
//! ```text
//! ocrbench --model DIR [--truth truth.json] [IMAGE…] [--rounds 1] [--scaled-decode]
//!          [--threads N] [--rapidocr-defaults] [--rec-batch N] [--det-limit 736] [--unclip 1.6]
//! ```
//!
//! `--rapidocr-defaults` runs the engine with RapidOCR 1.4.4's settings exactly
//! (`OcrOptions::rapidocr`, what the parity figures compare); without it, Magpie's defaults.

use std::path::PathBuf;
use std::time::Instant;

use magpie_bench::{start_runtime, Args};
use magpie_models::{decode_image_bytes, DecodeOptions, Device, SessionConfig};
use magpie_ocr::{OcrEngine, OcrModel, OcrOptions};
use serde_json::json;

fn main() {
    let args = Args::from_env();
    start_runtime();
    let model = OcrModel::load(&PathBuf::from(args.require("model"))).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(1)
    });
    let rounds: usize = args.number("rounds", 1);
    let scaled_decode = args.flag("scaled-decode");
    let mut options = if args.flag("rapidocr-defaults") {
        OcrOptions::rapidocr()
    } else {
        OcrOptions::default()
    };
    options.recognizer_batch = args.number("rec-batch", options.recognizer_batch);
    // Experiments against the chosen settings.
    options.detector.limit_side_len = args.number("det-limit", options.detector.limit_side_len);
    options.detector.unclip_ratio = args.number("unclip", options.detector.unclip_ratio);
    let config = SessionConfig {
        device: Device::Cpu,
        intra_op_threads: args.get("threads").and_then(|t| t.parse().ok()),
        tensorrt_cache_dir: None,
    };
    let engine = OcrEngine::load(&model, &config, options).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(1)
    });

    let mut jobs: Vec<(PathBuf, String)> = args
        .positional()
        .iter()
        .map(|p| (PathBuf::from(p), p.clone()))
        .collect();
    if let Some(truth) = args.get("truth") {
        let truth_path = PathBuf::from(truth);
        let text = std::fs::read_to_string(&truth_path).expect("truth.json reads");
        let value: serde_json::Value = serde_json::from_str(&text).expect("truth.json parses");
        let root = truth_path.parent().map(PathBuf::from).unwrap_or_default();
        for image in value["images"].as_array().into_iter().flatten() {
            let file = image["file"].as_str().unwrap_or_default().to_string();
            jobs.push((root.join(&file), file));
        }
    }
    let files: Vec<(Vec<u8>, String)> = jobs
        .iter()
        .map(|(path, label)| {
            (
                std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
                label.clone(),
            )
        })
        .collect();
    let decode_options = if scaled_decode {
        DecodeOptions {
            min_long_side: engine.options().max_side_len,
            ..DecodeOptions::default()
        }
    } else {
        DecodeOptions::default()
    };
    let read = |bytes: &[u8], label: &str| {
        let decoded =
            decode_image_bytes(bytes, label, &decode_options).map_err(|e| e.to_string())?;
        engine.read_decoded(&decoded).map_err(|e| e.to_string())
    };
    if let Some((bytes, label)) = files.first() {
        let _ = read(bytes, label);
    }
    let mut results = Vec::new();
    for (bytes, label) in &files {
        let mut seconds = Vec::new();
        let mut last = None;
        for _ in 0..rounds.max(1) {
            let started = Instant::now();
            let result = read(bytes, label);
            seconds.push(started.elapsed().as_secs_f64());
            last = Some(result);
        }
        match last.expect("at least one round") {
            Ok(result) => results.push(json!({
                "file": label,
                "width": result.width,
                "height": result.height,
                "seconds": seconds,
                "detect_s": result.timings.detect.as_secs_f64(),
                "classify_s": result.timings.classify.as_secs_f64(),
                "recognize_s": result.timings.recognize.as_secs_f64(),
                "dropped_regions": result.dropped_regions,
                "lines": result.lines.iter().map(|l| json!({
                    "box": l.corners, "text": l.text, "score": l.confidence,
                })).collect::<Vec<_>>(),
            })),
            Err(error) => results.push(json!({"file": label, "error": error})),
        }
    }
    println!("{}", serde_json::to_string(&results).expect("serialises"));
}
