//! `magpie models`: the local model store (`pull` from a Hugging Face-compatible hub, `list`,
//! `list --available` for the catalogue of known-good exports) and the default model a new
//! library gets.
//!
//! Also home to the small helpers every model-using command shares (start ONNX Runtime, turn a
//! `--model` value into a directory, build the session config), so that `doctor`, `embed` and the
//! search commands resolve models and devices the same way.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use magpie_models::catalogue::{self, KnownModel, DEFAULT_MODEL};
use magpie_models::runtime::{self, RuntimeInfo, RuntimeOptions};
use magpie_models::store::{ModelStore, PullProgress};
use magpie_models::{Device, ModelSpec, SessionConfig, Variant};
use serde::Serialize;

use super::Context;

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Download a CLIP-family ONNX model (CLIP, SigLIP, SigLIP2, multilingual; Hugging Face /
    /// Xenova / onnx-community, Immich, or magpie-model.toml layout).
    Pull(PullArgs),
    /// Show installed models, or with --available the catalogue of known-good exports.
    List(ListArgs),
    /// Install the OCR model (PP-OCRv4) from a folder or from the Python package
    /// rapidocr_onnxruntime, which ships it (`magpie models pull SWHL/RapidOCR` downloads it).
    ImportOcr(ImportOcrArgs),
}

#[derive(Debug, Args)]
pub struct ImportOcrArgs {
    /// A folder holding the detection, classification and recognition ONNX files.
    #[arg(long = "from", value_name = "FOLDER", conflicts_with = "from_rapidocr")]
    pub from: Option<PathBuf>,
    /// Take the models from the installed rapidocr_onnxruntime package.
    #[arg(long)]
    pub from_rapidocr: bool,
    /// The Python whose rapidocr_onnxruntime to use (default: python3).
    #[arg(long, env = "MAGPIE_PYTHON")]
    pub python: Option<PathBuf>,
    /// Name in the store (default: pp-ocrv4 for the pinned files).
    #[arg(long)]
    pub name: Option<String>,
}

#[derive(Debug, Args)]
pub struct PullArgs {
    /// Hub repo id, e.g. `immich-app/ViT-B-16-SigLIP2__webli`, `Xenova/clip-vit-base-patch32`,
    /// `onnx-community/siglip2-base-patch16-224-ONNX` (default: the catalogue's default model);
    /// `SWHL/RapidOCR` (or `pp-ocrv4`) for the OCR model.
    pub repo_id: Option<String>,
    /// Which export: fp32, fp16 or int8 (Hugging Face exports publish all three; Immich fp32).
    #[arg(long)]
    pub variant: Option<Variant>,
    /// Branch, tag or commit.
    #[arg(long, default_value = "main")]
    pub revision: String,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// The built-in catalogue of known-good exports (family, languages, sizes, published quality),
    /// marking the installed ones, instead of the store.
    #[arg(long)]
    pub available: bool,
    /// JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn run(command: ModelsCommand, ctx: &Context) -> anyhow::Result<()> {
    let store = model_store(ctx)?;
    match command {
        ModelsCommand::Pull(args) => pull(&store, &args),
        ModelsCommand::List(args) if args.available => list_available(&store, args.json),
        ModelsCommand::List(args) => list(&store, args.json),
        ModelsCommand::ImportOcr(args) => import_ocr(&store, &args),
    }
}

fn import_ocr(store: &ModelStore, args: &ImportOcrArgs) -> anyhow::Result<()> {
    let model = match (&args.from, args.from_rapidocr) {
        (Some(folder), _) => magpie_ocr::model::import_folder(
            store,
            folder,
            args.name.as_deref(),
            &folder.display().to_string(),
        )?,
        (None, true) => magpie_ocr::model::import_rapidocr(store, args.python.as_deref())?,
        (None, false) => {
            anyhow::bail!("say where the OCR model comes from: --from FOLDER or --from-rapidocr")
        }
    };
    print_ocr_installed(&model);
    Ok(())
}

fn print_ocr_installed(model: &magpie_ocr::OcrModel) {
    println!(
        "installed the OCR model {} into {}{}",
        model.name,
        model.dir.display(),
        if model.verified {
            " (the pinned PP-OCRv4 files, checksums verified)"
        } else {
            " (not the pinned PP-OCRv4 files: used as given)"
        }
    );
    println!("use it with: magpie index --ocr …, magpie ocr FILE…");
}

/// `magpie models pull SWHL/RapidOCR` (or `pp-ocrv4`): the OCR model, checked file by file.
fn pull_ocr(
    store: &ModelStore,
    known: &magpie_ocr::model::KnownModel,
    revision: &str,
) -> anyhow::Result<()> {
    let total: u64 = known.files.iter().map(|f| f.size).sum();
    eprintln!(
        "{}: {} — {:.1} MB to download from {}",
        known.name,
        known.description,
        total as f64 / 1e6,
        known.repo
    );
    let progress = BarProgress::new();
    let result = magpie_ocr::model::pull(store, known, revision, &progress);
    progress.bar.finish_and_clear();
    let model = result.with_context(|| format!("cannot pull {}@{revision}", known.repo))?;
    print_ocr_installed(&model);
    Ok(())
}

/// Where models are stored: `MAGPIE_MODELS`, else the config's `model_store`, else the default.
pub(crate) fn model_store(ctx: &Context) -> anyhow::Result<ModelStore> {
    Ok(ModelStore::locate(None, ctx.config.model_store.as_deref())?)
}

/// Starts ONNX Runtime from `--ort-lib` / `MAGPIE_ORT_LIB`, the config, or the search order.
pub(crate) fn start_runtime(ctx: &Context) -> anyhow::Result<&'static RuntimeInfo> {
    let options = RuntimeOptions {
        explicit: ctx.global.ort_lib.clone(),
        config: ctx.config.ort_lib.clone(),
    };
    Ok(runtime::init(&options)?)
}

/// A `--model` value (directory or store name), else the config's `model`.
pub(crate) fn resolve_model(
    ctx: &Context,
    value: Option<&str>,
) -> anyhow::Result<Option<ModelSpec>> {
    let Some(value) = value.or(ctx.config.model.as_deref()) else {
        return Ok(None);
    };
    let dir: PathBuf = model_store(ctx)?.resolve(value)?;
    let spec = ModelSpec::load(&dir).with_context(|| format!("cannot use model {value}"))?;
    Ok(Some(spec))
}

/// Session settings for a model: `--device`, else the config's `device`, else auto.
pub(crate) fn session_config(
    ctx: &Context,
    device: Option<&str>,
    spec: &ModelSpec,
) -> anyhow::Result<SessionConfig> {
    let device: Device = match device.or(ctx.config.device.as_deref()) {
        Some(text) => text.parse()?,
        None => Device::Auto,
    };
    Ok(SessionConfig {
        device,
        intra_op_threads: None,
        tensorrt_cache_dir: Some(model_store(ctx)?.tensorrt_cache_dir(&spec.name)),
    })
}

/// Drives an indicatif bar over the whole pull.
struct BarProgress {
    bar: ProgressBar,
}

impl BarProgress {
    /// The download bar every pull shows.
    fn new() -> Self {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        Self { bar }
    }
}

impl PullProgress for BarProgress {
    fn started(&self, files: usize, total_bytes: u64) {
        self.bar.set_length(total_bytes);
        self.bar.set_message(format!("{files} files"));
    }

    fn file_started(&self, path: &str, _size: u64, resumed_from: u64) {
        self.bar.inc(resumed_from);
        self.bar.set_message(path.to_string());
    }

    fn advanced(&self, bytes: u64) {
        self.bar.inc(bytes);
    }

    fn file_finished(&self, path: &str) {
        self.bar.println(format!("  verified {path}"));
    }
}

/// A progress bar for a pull.
fn pull_with_bar(
    store: &ModelStore,
    repo: &str,
    revision: &str,
    variant: Option<Variant>,
) -> magpie_models::Result<ModelSpec> {
    let progress = BarProgress::new();
    let result = store.pull_variant(repo, revision, variant, &progress);
    progress.bar.finish_and_clear();
    result
}

fn pull(store: &ModelStore, args: &PullArgs) -> anyhow::Result<()> {
    let repo = args.repo_id.as_deref().unwrap_or(DEFAULT_MODEL);
    if let Some(known) = magpie_ocr::model::known_model(repo) {
        return pull_ocr(store, known, &args.revision);
    }
    if let Some(known) = catalogue::find(repo) {
        eprintln!(
            "{repo}: {} — {}",
            known.family,
            describe_download(known, args.variant)
        );
    }
    let spec = pull_with_bar(store, repo, &args.revision, args.variant)
        .with_context(|| format!("cannot pull {repo}@{}", args.revision))?;
    println!(
        "pulled {repo} ({} layout, {} family, {} towers) into {}",
        spec.layout,
        spec.family,
        spec.variant,
        spec.dir.display()
    );
    println!("use it with: --model {repo}");
    Ok(())
}

fn describe_download(known: &KnownModel, variant: Option<Variant>) -> String {
    let approx = if known.download_exact { "" } else { "≈ " };
    match variant {
        Some(v) if v != Variant::Fp32 => format!(
            "the {v} export (the fp32 one is {approx}{} MB)",
            known.download_mb
        ),
        _ => format!("{approx}{} MB to download", known.download_mb),
    }
}

/// The catalogue's default model for a library that names none: the installed copy, else a pull
/// with a progress bar. When the hub cannot be reached the error says so and how to go on.
pub(crate) fn default_model(ctx: &Context) -> anyhow::Result<ModelSpec> {
    let store = model_store(ctx)?;
    if let Some(dir) = store.installed(DEFAULT_MODEL) {
        return Ok(ModelSpec::load(&dir)?);
    }
    let known = catalogue::default_model();
    eprintln!(
        "no --model given: downloading the default model {DEFAULT_MODEL} ({}, {}; README \"Models\" says why)",
        known.family,
        describe_download(known, None)
    );
    match pull_with_bar(&store, DEFAULT_MODEL, "main", None) {
        Ok(spec) => Ok(spec),
        Err(err @ magpie_models::Error::Hub { .. }) => anyhow::bail!(
            "cannot download the default model {DEFAULT_MODEL} from {} ({err}); pass --model DIR \
             (a model directory, or one from `magpie models list`), set HF_ENDPOINT to a reachable \
             hub mirror, or run `magpie models pull {DEFAULT_MODEL}` where the hub is reachable",
            magpie_models::store::hub_endpoint()
        ),
        Err(err) => {
            Err(err).with_context(|| format!("cannot pull the default model {DEFAULT_MODEL}"))
        }
    }
}

#[derive(Serialize)]
struct AvailableModel<'a> {
    repo: &'a str,
    family: &'a str,
    languages: &'a str,
    image_size: u32,
    embedding_dim: usize,
    download_mb: u32,
    download_exact: bool,
    variants: Vec<String>,
    recall_en: Option<f32>,
    recall_other: Option<(&'a str, f32)>,
    cpu_ms: Option<f32>,
    quality_source: Option<&'a str>,
    quality_remark: Option<&'a str>,
    default: bool,
    installed: bool,
}

fn list_available(store: &ModelStore, json: bool) -> anyhow::Result<()> {
    let rows: Vec<AvailableModel<'_>> = catalogue::catalogue()
        .iter()
        .map(|m| AvailableModel {
            repo: m.repo,
            family: m.family.name(),
            languages: m.languages,
            image_size: m.image_size,
            embedding_dim: m.dim,
            download_mb: m.download_mb,
            download_exact: m.download_exact,
            variants: m.variants.iter().map(Variant::to_string).collect(),
            recall_en: m.quality.map(|q| q.recall_en),
            recall_other: m.quality.and_then(|q| q.recall_other),
            cpu_ms: m.quality.map(|q| q.cpu_ms),
            quality_source: m.quality.map(|q| q.source),
            quality_remark: m.quality.and_then(|q| q.remark),
            default: m.repo == DEFAULT_MODEL,
            installed: store.installed(m.repo).is_some(),
        })
        .collect();
    if json {
        return super::common::print_json(&rows);
    }
    println!(
        "{:<2} {:<55} {:<12} {:<28} {:>5} {:>5} {:>9}  {:>7} {:>8}  variants",
        "", "repo", "family", "languages", "image", "dim", "download", "recall", "CPU ms"
    );
    for r in &rows {
        let mark = match (r.default, r.installed) {
            (true, true) => "*+",
            (true, false) => "* ",
            (false, true) => " +",
            _ => "  ",
        };
        let download = format!(
            "{}{} MB",
            if r.download_exact { "" } else { "≈" },
            r.download_mb
        );
        let recall = r
            .recall_en
            .map_or_else(|| "—".to_string(), |v| format!("{v:.2}%"));
        let ms = r
            .cpu_ms
            .map_or_else(|| "—".to_string(), |v| format!("{v:.2}"));
        println!(
            "{mark} {:<55} {:<12} {:<28} {:>5} {:>5} {:>9}  {:>7} {:>8}  {}",
            r.repo,
            r.family,
            r.languages,
            r.image_size,
            r.embedding_dim,
            download,
            recall,
            ms,
            r.variants.join(",")
        );
    }
    println!("* the default (a new library without --model gets it)   + installed");
    println!("recall: {}", catalogue::IMMICH_TABLE);
    println!("Hugging Face exports of the same weights carry the Immich figure of their twin; `--json` says which.");
    Ok(())
}

#[derive(Serialize)]
struct InstalledOutput {
    name: String,
    dir: String,
    layout: String,
    family: String,
    variant: String,
    declared_dim: Option<usize>,
    size_bytes: u64,
    source: Option<String>,
}

fn list(store: &ModelStore, json: bool) -> anyhow::Result<()> {
    let models = store.list();
    if json {
        let rows: Vec<InstalledOutput> = models
            .iter()
            .map(|m| InstalledOutput {
                name: m.name.clone(),
                dir: m.dir.display().to_string(),
                layout: m.layout.to_string(),
                family: m.family.to_string(),
                variant: m.variant.to_string(),
                declared_dim: m.declared_dim,
                size_bytes: m.size_bytes,
                source: m.source.clone(),
            })
            .collect();
        return super::common::print_json(&rows);
    }
    let ocr_models = magpie_ocr::model::list(store);
    for model in &ocr_models {
        println!(
            "OCR model {:<40} {}  {}",
            model.name,
            model.dir.display(),
            model.source.as_deref().unwrap_or("local")
        );
    }
    if models.is_empty() {
        println!(
            "no CLIP models in {} (add one with `magpie models pull [REPO]`; `magpie models list --available` shows known-good ones)",
            store.root().display()
        );
        return Ok(());
    }
    println!(
        "{:<50} {:<14} {:<12} {:<7} {:>5} {:>10}  source",
        "name", "layout", "family", "variant", "dim", "size"
    );
    for model in models {
        let dim = model
            .declared_dim
            .map_or_else(|| "?".to_string(), |d| d.to_string());
        let size = format!("{:.1} MB", model.size_bytes as f64 / 1e6);
        println!(
            "{:<50} {:<14} {:<12} {:<7} {:>5} {:>10}  {}",
            model.name,
            model.layout.to_string(),
            model.family.to_string(),
            model.variant.to_string(),
            dim,
            size,
            model.source.as_deref().unwrap_or("local")
        );
    }
    Ok(())
}
