//! Decode + preprocess throughput per photo format (no model): what `magpie index` does to a file
//! before inference, one file at a time on one thread, for each file given.
//!
//!     formatbench --config preprocessor_config.json [--rounds 3] FILE…
//!
//! Each file is read into memory once; then `rounds` timed passes of `decode_image_bytes` (with
//! the DCT scale the indexer asks for: twice the model input, and the 1280 px preview) followed by
//! resize + crop + normalise. Prints one JSON object per file on stdout: file, format, how the
//! pixels were obtained (RAW: embedded preview or demosaic), size, best and median images/s.
//! `bench/formats.py` runs it next to the Python peers (pillow-heif, rawpy) in one run.

use std::path::PathBuf;
use std::time::Instant;

use magpie_models::decode::{decode_image_bytes, DecodeOptions};
use magpie_models::{ImageConfig, Preprocessor};

fn main() {
    let mut args = std::env::args().skip(1);
    let mut config = None;
    let mut rounds = 3usize;
    let mut files = Vec::new();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--config" => config = args.next().map(PathBuf::from),
            "--rounds" => rounds = args.next().and_then(|r| r.parse().ok()).unwrap_or(3),
            _ => files.push(PathBuf::from(arg)),
        }
    }
    let Some(config) = config else {
        eprintln!("usage: formatbench --config preprocessor_config.json [--rounds N] FILE…");
        std::process::exit(2);
    };
    let config = ImageConfig::from_hf_preprocessor_config(&config, None).unwrap_or_else(|e| {
        eprintln!("formatbench: {e}");
        std::process::exit(1)
    });
    let preprocessor = Preprocessor::new(&config);
    let options = DecodeOptions {
        min_short_side: preprocessor.min_short_side(),
        min_long_side: 1280,
        ..DecodeOptions::default()
    };
    for file in files {
        let bytes = match std::fs::read(&file) {
            Ok(bytes) => bytes,
            Err(e) => {
                eprintln!("formatbench: {}: {e}", file.display());
                continue;
            }
        };
        let label = file.display().to_string();
        let mut times = Vec::with_capacity(rounds);
        let mut last = None;
        for _ in 0..rounds.max(1) {
            let started = Instant::now();
            let decoded = match decode_image_bytes(&bytes, &label, &options) {
                Ok(decoded) => decoded,
                Err(e) => {
                    eprintln!("formatbench: {e}");
                    break;
                }
            };
            let input = preprocessor
                .preprocess_decoded(&decoded)
                .expect("preprocesses");
            std::hint::black_box(input);
            times.push(started.elapsed().as_secs_f64());
            last = Some(decoded);
        }
        let Some(decoded) = last else { continue };
        times.sort_by(f64::total_cmp);
        let line = serde_json::json!({
            "file": label,
            "format": decoded.format.name(),
            "source": decoded.source,
            "width": decoded.original_width,
            "height": decoded.original_height,
            "scale": decoded.scale_denominator,
            "best_images_per_second": 1.0 / times[0],
            "median_images_per_second": 1.0 / times[times.len() / 2],
        });
        println!("{line}");
    }
}
