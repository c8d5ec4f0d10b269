//! Magpie's CPU indexing ceilings on a folder of photos, with the library crates directly:
//!
//! - **decode + preprocess** (no model): `decode_image_bytes` with the DCT scale the model alone
//!   needs (`Preprocessor::min_short_side`), then `Preprocessor::preprocess` — single thread and
//!   one thread per core;
//! - **indexer decode stage** (no model): what a decode worker of `magpie index` does per photo —
//!   BLAKE3 of the bytes, decode at the scale the 1280 px preview needs, preprocess, both
//!   thumbnails — one thread per core;
//! - **inference only** (no decode): `ImageEncoder::embed_images` on one fixed preprocessed
//!   tensor, batch 1 and batch 32;
//! - the **pipeline ceiling** on shared cores: decode and inference both use every core, so one
//!   image costs the sum of the two stages' core-seconds: `1 / (1/decode_rate + 1/infer_rate)`.
//!
//! Files are read into memory first, so the figures exclude disk reads (the photos are in the
//! page cache in a benchmark run anyway). Prints one JSON object on stdout.
//!
//! ```text
//! ceilings --model DIR --photos DIR [--rounds 3] [--infer-seconds 20] [--threads N]
//! ```

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use magpie_bench::{cores, start_runtime, Args};
use magpie_models::preprocess::DEFAULT_MAX_PIXELS;
use magpie_models::{
    decode_image_bytes, DecodeOptions, ImageEncoder, ModelSpec, Preprocessor, SessionConfig,
};
use serde_json::json;

/// One photo, read into memory.
struct Photo {
    label: String,
    bytes: Vec<u8>,
}

fn read_photos(dir: &Path) -> Vec<Photo> {
    magpie_bench::read_photos(dir)
        .into_iter()
        .map(|(label, bytes)| Photo { label, bytes })
        .collect()
}

/// What one decode pass costs; `work` returns whether the photo decoded.
fn timed_pass(
    photos: &[Photo],
    threads: usize,
    rounds: usize,
    work: &(dyn Fn(&Photo) -> bool + Sync),
) -> (f64, usize) {
    let started = Instant::now();
    let mut decoded = 0;
    for _ in 0..rounds {
        let next = AtomicUsize::new(0);
        let ok = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(photo) = photos.get(index) else {
                        break;
                    };
                    if work(photo) {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
        });
        decoded = ok.into_inner();
    }
    let seconds = started.elapsed().as_secs_f64();
    ((decoded * rounds) as f64 / seconds, decoded)
}

fn model_decode(photo: &Photo, preprocessor: &Preprocessor) -> bool {
    let options = DecodeOptions {
        min_short_side: preprocessor.min_short_side(),
        min_long_side: 0,
        max_pixels: DEFAULT_MAX_PIXELS,
    };
    match decode_image_bytes(&photo.bytes, &photo.label, &options) {
        Ok(decoded) => preprocessor.preprocess(&decoded.rgb).is_ok(),
        Err(_) => false,
    }
}

/// The indexer's decode limits (`indexer/src/library.rs`): the preview's longest side and the
/// grid thumbnail's shortest side.
const PREVIEW_LONG_SIDE: u32 = 1280;
const GRID_SHORT_SIDE: u32 = 256;

/// Whether the decode stage includes the indexer's thumbnails (feature `indexer-stage`).
const WITH_THUMBNAILS: bool = cfg!(feature = "indexer-stage");

#[cfg(feature = "indexer-stage")]
fn thumbnails(rgb: &image::RgbImage) -> bool {
    magpie_indexer::make_thumbnails(rgb, &magpie_indexer::ThumbnailSpec::default()).is_ok()
}

#[cfg(not(feature = "indexer-stage"))]
fn thumbnails(_rgb: &image::RgbImage) -> bool {
    true
}

/// The per-photo work of an indexer decode worker (`indexer/src/prepare.rs`), minus EXIF parsing
/// (and minus the thumbnails without the `indexer-stage` feature).
fn indexer_decode(photo: &Photo, preprocessor: &Preprocessor) -> bool {
    let options = DecodeOptions {
        min_short_side: preprocessor.min_short_side().max(GRID_SHORT_SIDE),
        min_long_side: PREVIEW_LONG_SIDE,
        max_pixels: DEFAULT_MAX_PIXELS,
    };
    let _hash = blake3::hash(&photo.bytes);
    let Ok(decoded) = decode_image_bytes(&photo.bytes, &photo.label, &options) else {
        return false;
    };
    preprocessor.preprocess(&decoded.rgb).is_ok() && thumbnails(&decoded.rgb)
}

/// Images per second of `embed_images` on batches of `batch` copies of `tensor`, for at least
/// `min_time` after one warm-up call.
fn inference_rate(
    encoder: &ImageEncoder,
    tensor: &[f32],
    batch: usize,
    min_time: Duration,
) -> serde_json::Value {
    let inputs: Vec<&[f32]> = vec![tensor; batch];
    encoder.embed_images(&inputs).expect("warm-up inference");
    let started = Instant::now();
    let mut images = 0usize;
    let mut calls = Vec::new();
    while started.elapsed() < min_time || calls.len() < 3 {
        let call = Instant::now();
        encoder.embed_images(&inputs).expect("inference");
        calls.push(call.elapsed());
        images += batch;
    }
    let seconds = started.elapsed().as_secs_f64();
    let stats = magpie_bench::Stats::of(&calls);
    json!({
        "batch": batch,
        "images": images,
        "seconds": seconds,
        "images_per_second": images as f64 / seconds,
        "ms_per_call_p50": stats.p50_ms,
    })
}

fn main() {
    let args = Args::from_env();
    let model_dir = PathBuf::from(args.require("model"));
    let photos_dir = PathBuf::from(args.require("photos"));
    let rounds: usize = args.number("rounds", 3);
    let threads: usize = args.number("threads", cores());
    let infer_seconds: f64 = args.number("infer-seconds", 20.0);

    let runtime = start_runtime();
    let spec = ModelSpec::load(&model_dir).unwrap_or_else(|e| panic!("model: {e}"));
    let photos = read_photos(&photos_dir);
    let bytes: usize = photos.iter().map(|p| p.bytes.len()).sum();
    eprintln!(
        "ceilings: {} files ({:.1} MB) from {}",
        photos.len(),
        bytes as f64 / 1e6,
        photos_dir.display()
    );

    let preprocessor = Preprocessor::new(&spec.image.preprocess);
    let model_work = |p: &Photo| model_decode(p, &preprocessor);
    let indexer_work = |p: &Photo| indexer_decode(p, &preprocessor);

    // Warm the page cache / allocator once.
    let (_, decodable) = timed_pass(&photos, threads, 1, &model_work);
    let (decode_1t, _) = timed_pass(&photos, 1, rounds, &model_work);
    eprintln!("decode+preprocess, 1 thread: {decode_1t:.1} images/s");
    let (decode_nt, _) = timed_pass(&photos, threads, rounds, &model_work);
    eprintln!("decode+preprocess, {threads} threads: {decode_nt:.1} images/s");
    let (indexer_nt, _) = timed_pass(&photos, threads, rounds, &indexer_work);
    eprintln!("indexer decode stage, {threads} threads: {indexer_nt:.1} images/s");

    let encoder = ImageEncoder::open(&spec, &SessionConfig::default())
        .unwrap_or_else(|e| panic!("image tower: {e}"));
    let tensor = photos
        .iter()
        .find_map(|p| {
            let options = DecodeOptions {
                min_short_side: preprocessor.min_short_side(),
                min_long_side: 0,
                max_pixels: DEFAULT_MAX_PIXELS,
            };
            let decoded = decode_image_bytes(&p.bytes, &p.label, &options).ok()?;
            preprocessor.preprocess(&decoded.rgb).ok()
        })
        .expect("at least one decodable photo");
    let min_time = Duration::from_secs_f64(infer_seconds);
    let infer_b1 = inference_rate(&encoder, &tensor, 1, min_time);
    eprintln!(
        "inference batch 1: {:.1} images/s",
        infer_b1["images_per_second"]
    );
    let infer_b32 = inference_rate(&encoder, &tensor, 32, min_time);
    eprintln!(
        "inference batch 32: {:.1} images/s",
        infer_b32["images_per_second"]
    );

    let infer_rate = infer_b32["images_per_second"].as_f64().unwrap_or(f64::NAN);
    let serial = |decode: f64| 1.0 / (1.0 / decode + 1.0 / infer_rate);
    let report = json!({
        "bench": "ceilings",
        "photos_dir": photos_dir,
        "files": photos.len(),
        "decodable": decodable,
        "bytes": bytes,
        "threads": threads,
        "rounds": rounds,
        "onnxruntime": runtime.version,
        "model": model_dir,
        "decode_preprocess": {
            "min_short_side": preprocessor.min_short_side(),
            "images_per_second_1_thread": decode_1t,
            "images_per_second_all_threads": decode_nt,
        },
        "indexer_decode_stage": {
            "min_short_side": preprocessor.min_short_side().max(GRID_SHORT_SIDE),
            "min_long_side": PREVIEW_LONG_SIDE,
            "thumbnails": WITH_THUMBNAILS,
            "includes": if WITH_THUMBNAILS {
                "blake3 + decode + preprocess + grid and preview thumbnails (no EXIF parse)"
            } else {
                "blake3 + decode + preprocess (no thumbnails: built without the indexer-stage feature; no EXIF parse)"
            },
            "images_per_second_all_threads": indexer_nt,
        },
        "inference_only": { "batch_1": infer_b1, "batch_32": infer_b32 },
        "pipeline_ceiling": {
            "formula": "1 / (1/decode_rate + 1/inference_rate_batch32): both stages share every core",
            "model_decode_images_per_second": serial(decode_nt),
            "indexer_decode_images_per_second": serial(indexer_nt),
            "inference_only_images_per_second": infer_rate,
        },
    });
    println!("{}", serde_json::to_string_pretty(&report).expect("json"));
}
