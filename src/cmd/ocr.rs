//! `magpie ocr FILE…`: the words in images, with their boxes and confidences (PP-OCR through
//! `magpie-ocr`), and the engine setup `magpie index --ocr` shares.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use magpie_models::{Device, SessionConfig};
use magpie_ocr::{OcrEngine, OcrOptions, OcrResult};
use serde::Serialize;

use super::models::{model_store, start_runtime};
use super::Context;

#[derive(Debug, Args)]
pub struct OcrArgs {
    /// OCR model: a store name (`pp-ocrv4`) or a folder (default: the installed PP-OCRv4, see
    /// `magpie models pull SWHL/RapidOCR` and `magpie models import-ocr`).
    #[arg(long, env = "MAGPIE_OCR_MODEL")]
    pub model: Option<String>,
    /// Device: auto, cpu, cuda, tensorrt (default: the config's `device`, else auto).
    #[arg(long)]
    pub device: Option<String>,
    /// JSON on stdout: per file, its size and lines (text, confidence, corners).
    #[arg(long)]
    pub json: bool,
    /// Images to read.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

/// The OCR engine for `model` (a store name or folder; `None`: the default), on `device`.
pub(crate) fn ocr_engine(
    ctx: &Context,
    model: Option<&str>,
    device: Option<&str>,
) -> anyhow::Result<OcrEngine> {
    start_runtime(ctx)?;
    let store = model_store(ctx)?;
    let model = magpie_ocr::model::resolve(&store, model)?;
    let device: Device = match device.or(ctx.config.device.as_deref()) {
        Some(text) => text.parse()?,
        None => Device::Auto,
    };
    let config = SessionConfig {
        device,
        intra_op_threads: None,
        tensorrt_cache_dir: Some(store.tensorrt_cache_dir(&model.name)),
    };
    let engine = OcrEngine::load(&model, &config, OcrOptions::default())
        .with_context(|| format!("cannot load the OCR model {}", model.dir.display()))?;
    Ok(engine)
}

#[derive(Serialize)]
struct FileText<'a> {
    file: String,
    #[serde(flatten)]
    result: &'a OcrResult,
}

pub fn run(args: OcrArgs, ctx: &Context) -> anyhow::Result<()> {
    let engine = ocr_engine(ctx, args.model.as_deref(), args.device.as_deref())?;
    let mut results = Vec::new();
    let mut failed = 0usize;
    for file in &args.files {
        match engine.read_file(file, false) {
            Ok(result) => results.push((file.display().to_string(), result)),
            Err(e) => {
                // One bad file never stops the others.
                eprintln!("{}: {e}", file.display());
                failed += 1;
            }
        }
    }
    if args.json {
        let rows: Vec<FileText<'_>> = results
            .iter()
            .map(|(file, result)| FileText {
                file: file.clone(),
                result,
            })
            .collect();
        super::common::print_json(&rows)?;
    } else {
        for (file, result) in &results {
            println!("{file} ({}×{}):", result.width, result.height);
            if result.lines.is_empty() {
                println!("  (no text)");
            }
            for line in &result.lines {
                let [x, y] = line.corners[0];
                println!(
                    "  {:>5.3}  at {:>5.0},{:<5.0} {}",
                    line.confidence, x, y, line.text
                );
            }
            if result.dropped_regions > 0 {
                println!(
                    "  … and {} more text regions beyond the detector's cap, not read",
                    result.dropped_regions
                );
            }
        }
    }
    if failed > 0 {
        anyhow::bail!("{failed} of {} files could not be read", args.files.len());
    }
    Ok(())
}
