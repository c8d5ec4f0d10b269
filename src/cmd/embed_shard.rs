//! `magpie embed-shard`: embed one deterministic slice of a huge collection into clip-retrieval's
//! files, on whichever host runs it (by hand, or as a Ray job of `magpie cluster submit`).
//!
//! The work is `magpie_shard` (choosing the files, the up-to-date check, writing the files) and
//! the indexer's pipeline it drives; this module opens the model, prints the machine-readable
//! progress lines the Ray driver follows on stdout (`magpie_shard::ShardProgress`), and reports
//! the files that could not be embedded on stderr, as `magpie index` does.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use magpie_indexer::Progress;
use magpie_models::ImageEncoder;
use magpie_shard::{Dtype, Freshness, ShardInput, ShardProgress, ShardSelection, ShardTarget};

use super::common::Reporter;
use super::index::{cancel_on_ctrl_c, PipelineArgs};
use super::models::{default_model, resolve_model, session_config, start_runtime};
use super::Context;

#[derive(Debug, Args)]
pub struct EmbedShardArgs {
    /// Which slice: K/N is shard K (0-based) of N; a photo's shard is a hash of its path, so
    /// every host agrees without talking to the others.
    #[arg(long, value_name = "K/N")]
    pub shard: ShardSelection,
    /// Where the shard files go (img_emb/, metadata/, thumbs/, shards/); shared by all shards.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Read the photos' paths from this file (one per line) instead of crawling folders.
    #[arg(long, value_name = "FILE", conflicts_with = "paths")]
    pub file_list: Option<PathBuf>,
    /// Model directory or store name (default: MAGPIE_MODEL, the config's, else the
    /// catalogue's default model).
    #[arg(long, env = "MAGPIE_MODEL")]
    pub model: Option<String>,
    /// Device: auto, cpu, cuda[:N], tensorrt[:N].
    #[arg(long)]
    pub device: Option<String>,
    /// Embedding values in the .npy file: f16 (half the size, what clip-retrieval writes) or
    /// f32.
    #[arg(long, value_enum, default_value = "f16")]
    pub dtype: DtypeArg,
    /// Embed the shard again even when its files are up to date.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    /// Photo folders (or files) to crawl; each host crawls them all and keeps its own shard.
    #[arg(value_name = "ROOT", required_unless_present = "file_list")]
    pub paths: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DtypeArg {
    F16,
    F32,
}

pub fn run(args: EmbedShardArgs, ctx: &Context) -> anyhow::Result<()> {
    let selection = args.shard;
    start_runtime(ctx)?;
    let spec = match resolve_model(ctx, args.model.as_deref())? {
        Some(spec) => spec,
        None => default_model(ctx)?,
    };
    let checksum = magpie_models::identity::weights_checksum(&spec)?;
    let target = ShardTarget {
        dir: args.out.clone(),
        selection,
        model_key: magpie_searcher::library::model_key(&checksum),
        model_name: spec.name.clone(),
        dtype: match args.dtype {
            DtypeArg::F16 => Dtype::F16,
            DtypeArg::F32 => Dtype::F32,
        },
    };
    target
        .prepare_dir()
        .with_context(|| format!("cannot write shards into {}", args.out.display()))?;

    let input = match &args.file_list {
        Some(list) => ShardInput::from_file_list(list, selection)?,
        None => {
            let mut roots = Vec::new();
            for path in &args.paths {
                roots.push(
                    path.canonicalize()
                        .with_context(|| format!("cannot embed {}", path.display()))?,
                );
            }
            ShardInput::crawl(&roots, &args.pipeline.crawl_options(), selection)?
        }
    };
    let total = input.len() as u64;
    match (args.force, target.freshness(&input)) {
        (false, Freshness::UpToDate(manifest)) => {
            println!(
                "{}",
                ShardProgress::new(selection, total, total, manifest.failures.len() as u64).line()
            );
            eprintln!(
                "shard {selection} is up to date in {} ({} images, {} failed): skipped",
                args.out.display(),
                manifest.rows,
                manifest.failures.len()
            );
            return Ok(());
        }
        (_, Freshness::Stale(reason)) => tracing::info!(shard = %selection, "embedding: {reason}"),
        (true, Freshness::UpToDate(_)) => tracing::info!(shard = %selection, "embedding: --force"),
    }

    let session = session_config(ctx, args.device.as_deref(), &spec)?;
    let encoder = Arc::new(ImageEncoder::open(&spec, &session)?);
    tracing::info!(
        model = %spec.name,
        provider = %encoder.provider_report(),
        "image tower ready"
    );
    let dims = encoder.dim();
    let pipeline = args.pipeline.pipeline_config();
    let (decoder, embedder) = magpie_indexer::library::model_stages(encoder, &pipeline.prepare);
    let cancel = cancel_on_ctrl_c();
    let progress = Arc::new(Progress::new());
    let reporter = progress_lines(progress.clone(), selection, total);
    let result = target.write(
        input, dims, decoder, embedder, &pipeline, &progress, &cancel,
    );
    reporter.finish();
    let report = result.with_context(|| {
        format!(
            "embedding shard {selection} into {} with model {}",
            args.out.display(),
            spec.name
        )
    })?;
    let manifest = &report.manifest;
    println!(
        "{}",
        ShardProgress::new(selection, total, total, manifest.failures.len() as u64).line()
    );
    for failure in &manifest.failures {
        eprintln!(
            "cannot index {}: {}",
            failure.path().display(),
            failure.reason
        );
    }
    eprintln!(
        "shard {selection} written to {}: {} images embedded, {} failed, {} not images in {:.1} s ({:.1} images/s)",
        args.out.display(),
        manifest.rows,
        manifest.failures.len(),
        report.summary.skipped,
        report.summary.elapsed_seconds,
        report.summary.images_per_second,
    );
    Ok(())
}

/// A progress line on stdout about once a second while the shard is embedded (stdout is the Ray
/// job's log, which `magpie cluster` reads).
fn progress_lines(progress: Arc<Progress>, selection: ShardSelection, total: u64) -> Reporter {
    Reporter::start("shard-progress", move |stop| {
        let mut last = None;
        while !stop.load(Ordering::SeqCst) {
            let snap = progress.snapshot();
            let line =
                ShardProgress::new(selection, snap.finished().min(total), total, snap.failed);
            if last != Some(line) {
                println!("{}", line.line());
                last = Some(line);
            }
            for _ in 0..10 {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    })
}
