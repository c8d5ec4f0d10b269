//! `magpie models`: the local model store (`pull` from a Hugging Face-compatible hub, `list`).
//!
//! Also home to the small helpers every model-using command shares (start ONNX Runtime, turn a
//! `--model` value into a directory, build the session config), so that `doctor`, `embed` and the
//! search commands resolve models and devices the same way.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use magpie_models::runtime::{self, RuntimeInfo, RuntimeOptions};
use magpie_models::store::{ModelStore, PullProgress};
use magpie_models::{Device, ModelSpec, SessionConfig};

use super::Context;

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Download a CLIP ONNX model (Hugging Face/Xenova, Immich or magpie-model.toml layout).
    Pull(PullArgs),
    /// Show installed models.
    List,
}

#[derive(Debug, Args)]
pub struct PullArgs {
    /// Hub repo id, e.g. `Xenova/clip-vit-base-patch32` or `immich-app/ViT-B-32__openai`.
    pub repo_id: String,
    /// Branch, tag or commit.
    #[arg(long, default_value = "main")]
    pub revision: String,
}

pub fn run(command: ModelsCommand, ctx: &Context) -> anyhow::Result<()> {
    let store = model_store(ctx)?;
    match command {
        ModelsCommand::Pull(args) => pull(&store, &args),
        ModelsCommand::List => list(&store),
    }
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

fn pull(store: &ModelStore, args: &PullArgs) -> anyhow::Result<()> {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let progress = BarProgress { bar };
    let result = store.pull(&args.repo_id, &args.revision, &progress);
    progress.bar.finish_and_clear();
    let spec = result.with_context(|| format!("cannot pull {}@{}", args.repo_id, args.revision))?;
    println!(
        "pulled {} ({} layout) into {}",
        args.repo_id,
        spec.layout,
        spec.dir.display()
    );
    println!("use it with: --model {}", spec.name);
    Ok(())
}

fn list(store: &ModelStore) -> anyhow::Result<()> {
    let models = store.list();
    if models.is_empty() {
        println!(
            "no models in {} (add one with `magpie models pull <repo-id>`)",
            store.root().display()
        );
        return Ok(());
    }
    println!(
        "{:<40} {:<16} {:>5} {:>10}  source",
        "name", "layout", "dim", "size"
    );
    for model in models {
        let dim = model
            .declared_dim
            .map_or_else(|| "?".to_string(), |d| d.to_string());
        let size = format!("{:.1} MB", model.size_bytes as f64 / 1e6);
        println!(
            "{:<40} {:<16} {:>5} {:>10}  {}",
            model.name,
            model.layout.to_string(),
            dim,
            size,
            model.source.as_deref().unwrap_or("local")
        );
    }
    Ok(())
}
