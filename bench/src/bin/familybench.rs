//! CPU speed of one model family and its variants, and how close the fp16 and int8 towers come to
//! fp32, with Magpie's own towers (`ImageEncoder`, `TextEncoder`) on the same photos and queries.
//!
//! ```text
//! familybench --model DIR --photos DIR [--variants fp32,fp16,int8] [--images 16]
//!             [--rounds 3] [--batch 8]
//! ```
//!
//! Per variant, one after the other (a tower's ONNX Runtime threads spin for a while after each
//! run, so two sessions never run interleaved):
//! - **images/s**: the photos are decoded and preprocessed once (the model's own preprocessing);
//!   then `rounds` passes of `embed_images` over all of them at batch 1 and at `--batch`; the best
//!   pass counts;
//! - **text ms**: one query alone (p50 over the query set) and one 8-prompt ensemble in one
//!   batch (what a short query costs the searcher);
//! - **cosine to fp32**: each image and text embedding against the fp32 tower's for the same
//!   input (mean and minimum); fp32 itself is the reference (1).
//!
//! Prints one JSON object on stdout. `bench/families.sh` runs it over the real-shape random-weight
//! models `bench/make_family_models.py` writes.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use magpie_bench::{start_runtime, Args, Stats};
use magpie_models::{
    decode_image_bytes, DecodeOptions, ImageEncoder, ModelSpec, Preprocessor, SessionConfig,
    TextEncoder, Variant,
};
use serde_json::json;

/// Queries of the kinds people type: short ones (which get the prompt ensemble) and sentences.
const QUERIES: &[&str] = &[
    "dog",
    "red car",
    "kids on a beach at sunset",
    "a birthday cake with candles",
    "snow-covered mountains above a lake",
    "receipt",
    "my grandmother laughing in the kitchen",
    "city street at night in the rain",
    "a cat asleep on a keyboard",
    "fireworks",
    "people hiking through a pine forest in autumn",
    "screenshot of an error message",
];

/// The prompt templates of an ensemble (the searcher's default has eight).
const TEMPLATES: &[&str] = &[
    "a photo of {}.",
    "a picture of {}.",
    "an image of {}.",
    "a close-up photo of {}.",
    "a photo of the {}.",
    "a good photo of {}.",
    "a cropped photo of {}.",
    "a bright photo of {}.",
];

fn photos(dir: &Path, count: usize) -> Vec<(String, Vec<u8>)> {
    let mut photos = magpie_bench::read_photos(dir);
    photos.truncate(count);
    photos
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum();
    let na: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb).max(f64::MIN_POSITIVE)
}

/// Mean and minimum cosine of each row against the reference row.
fn agreement(rows: &[Vec<f32>], reference: &[Vec<f32>]) -> serde_json::Value {
    let cosines: Vec<f64> = rows
        .iter()
        .zip(reference)
        .map(|(a, b)| cosine(a, b))
        .collect();
    let mean = cosines.iter().sum::<f64>() / cosines.len().max(1) as f64;
    let min = cosines.iter().copied().fold(f64::INFINITY, f64::min);
    json!({"mean": mean, "min": min})
}

/// Images per second of the best of `rounds` passes over `tensors` in batches of `batch`, and
/// the embeddings of the last pass.
fn image_rate(
    encoder: &ImageEncoder,
    tensors: &[Vec<f32>],
    batch: usize,
    rounds: usize,
) -> (f64, Vec<Vec<f32>>) {
    let inputs: Vec<&[f32]> = tensors.iter().map(Vec::as_slice).collect();
    encoder
        .embed_images(&inputs[..batch.min(inputs.len())])
        .expect("warm-up inference");
    let mut best = f64::INFINITY;
    let mut rows = Vec::new();
    for _ in 0..rounds.max(1) {
        rows.clear();
        let started = Instant::now();
        for chunk in inputs.chunks(batch.max(1)) {
            rows.extend(encoder.embed_images(chunk).expect("inference"));
        }
        best = best.min(started.elapsed().as_secs_f64());
    }
    (inputs.len() as f64 / best, rows)
}

struct Measured {
    report: serde_json::Value,
    images: Vec<Vec<f32>>,
    texts: Vec<Vec<f32>>,
}

fn measure(
    dir: &Path,
    variant: Variant,
    photos: &[(String, Vec<u8>)],
    rounds: usize,
    batch: usize,
) -> Result<Measured, String> {
    let spec = ModelSpec::load_variant(dir, Some(variant)).map_err(|e| e.to_string())?;
    let session = SessionConfig::default();
    let preprocessor = Preprocessor::new(&spec.image.preprocess);
    let options = DecodeOptions {
        min_short_side: preprocessor.min_short_side(),
        ..DecodeOptions::default()
    };
    let tensors: Vec<Vec<f32>> = photos
        .iter()
        .filter_map(|(label, bytes)| {
            let decoded = decode_image_bytes(bytes, label, &options).ok()?;
            preprocessor.preprocess(&decoded.rgb).ok()
        })
        .collect();
    let encoder = ImageEncoder::open(&spec, &session).map_err(|e| e.to_string())?;
    let (rate_1, _) = image_rate(&encoder, &tensors, 1, rounds);
    let (rate_batch, images) = image_rate(&encoder, &tensors, batch, rounds);
    let provider = encoder.provider_report().to_string();
    drop(encoder);

    let text = TextEncoder::open(&spec, &session).map_err(|e| e.to_string())?;
    text.embed_texts(&["warm up"]).map_err(|e| e.to_string())?;
    let mut single = Vec::new();
    let mut texts = Vec::new();
    for _ in 0..rounds.max(1) {
        texts.clear();
        for query in QUERIES {
            let started = Instant::now();
            let rows = text.embed_texts(&[query]).map_err(|e| e.to_string())?;
            single.push(started.elapsed());
            texts.extend(rows);
        }
    }
    let mut ensemble = Vec::new();
    for query in QUERIES.iter().filter(|q| q.split_whitespace().count() <= 4) {
        let prompts: Vec<String> = TEMPLATES.iter().map(|t| t.replace("{}", query)).collect();
        let prompts: Vec<&str> = prompts.iter().map(String::as_str).collect();
        let started = Instant::now();
        text.embed_texts(&prompts).map_err(|e| e.to_string())?;
        ensemble.push(started.elapsed());
    }
    let ms = |samples: &[Duration]| Stats::of(samples).p50_ms;
    let report = json!({
        "variant": variant.to_string(),
        "family": spec.family.to_string(),
        "image_tower": spec.image.file,
        "text_tower": spec.text.file,
        "image_size": spec.image.preprocess.size,
        "provider": provider,
        "photos": tensors.len(),
        "images_per_second_batch_1": rate_1,
        format!("images_per_second_batch_{batch}"): rate_batch,
        "text_ms_single_p50": ms(&single),
        "text_ms_ensemble_p50": ms(&ensemble),
    });
    Ok(Measured {
        report,
        images,
        texts,
    })
}

fn main() {
    let args = Args::from_env();
    let dir = PathBuf::from(args.require("model"));
    let photo_dir = PathBuf::from(args.require("photos"));
    let rounds: usize = args.number("rounds", 3);
    let batch: usize = args.number("batch", 8);
    let count: usize = args.number("images", 16);
    let variants: Vec<Variant> = args
        .get("variants")
        .unwrap_or("fp32,fp16,int8")
        .split(',')
        .map(|v| {
            v.trim()
                .parse()
                .unwrap_or_else(|e| panic!("--variants: {e}"))
        })
        .collect();
    start_runtime();
    let photos = photos(&photo_dir, count);
    // The fp32 tower's image and text embeddings, which the other variants are compared with.
    let mut reference: Option<Measured> = None;
    let mut rows = Vec::new();
    for variant in variants {
        match measure(&dir, variant, &photos, rounds, batch) {
            Ok(mut m) => {
                if let Some(fp32) = &reference {
                    m.report["image_cosine_to_fp32"] = agreement(&m.images, &fp32.images);
                    m.report["text_cosine_to_fp32"] = agreement(&m.texts, &fp32.texts);
                }
                eprintln!("{}", m.report);
                rows.push(m.report.clone());
                if variant == Variant::Fp32 {
                    reference = Some(m);
                }
            }
            Err(e) => {
                eprintln!("familybench: {} {variant}: {e}", dir.display());
                rows.push(json!({"variant": variant.to_string(), "error": e}));
            }
        }
    }
    let report = json!({"bench": "families", "model": dir, "batch": batch, "variants": rows});
    println!("{}", serde_json::to_string_pretty(&report).expect("json"));
}
