//! `magpie index`: bring a library up to date with photo folders, and `magpie watch`: keep it so.
//!
//! The work is `magpie_indexer::library::index`; this module chooses the model and library,
//! shows progress (an indicatif bar on a terminal, log lines otherwise), turns Ctrl-C into a clean
//! stop after the batch in flight, and writes `progress.json` into the library while it runs so
//! that `magpie serve` can show indexing progress. With `--ocr` (remembered by the library) the
//! OCR stage (`magpie_indexer::text_stage`) follows each run, with its own progress bar.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use magpie_catalog::{LibrarySettings, ModelIdentity, Quantization, Writer, WriterOptions};
use magpie_indexer::library::{index, IndexOptions};
use magpie_indexer::text_stage::{
    read_library_text, OcrReader, TextProgress, TextStageOptions, TextSummary,
};
use magpie_indexer::{CrawlOptions, PipelineConfig, Progress, Summary};
use magpie_models::{ImageEncoder, ModelSpec};
use serde::Serialize;

use super::common::{
    image_bar, library_dir, model_for_index, record_model_source, LibraryTarget, Reporter,
};
use super::models::{session_config, start_runtime};
use super::Context;

#[derive(Debug, Clone, Args)]
pub struct IndexArgs {
    #[command(flatten)]
    pub target: LibraryTarget,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    /// Vector storage of a new library: f16 or i8.
    #[arg(long, default_value = "f16")]
    pub quantization: Quantization,
    /// Print a JSON summary on stdout at the end.
    #[arg(long)]
    pub json: bool,
    /// After embedding, read the words in the images (OCR) so that text search finds them; the
    /// library remembers it, so later runs read new and changed images too (until --no-ocr).
    #[arg(long, conflicts_with = "no_ocr")]
    pub ocr: bool,
    /// Stop reading text in this library's images (what was read stays searchable).
    #[arg(long)]
    pub no_ocr: bool,
    /// OCR model: a store name or folder (default: the installed PP-OCRv4; the library remembers
    /// it).
    #[arg(long, value_name = "NAME|DIR")]
    pub ocr_model: Option<String>,
    /// Photo folders (or files) to index.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
}

/// How the photos are found and pushed through the pipeline: shared by `magpie index` and
/// `magpie embed-shard`, which crawl and embed alike.
#[derive(Debug, Clone, Args)]
pub struct PipelineArgs {
    /// Follow symbolic links (loops are detected and reported).
    #[arg(long)]
    pub follow_links: bool,
    /// Include hidden files and folders.
    #[arg(long)]
    pub hidden: bool,
    /// Only index files matching this glob (repeatable), e.g. `**/*.jpg`.
    #[arg(long = "include", value_name = "GLOB")]
    pub include: Vec<String>,
    /// Leave out files and folders matching this glob (repeatable), e.g. `**/.thumbnails`.
    #[arg(long = "exclude", value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Images per model call.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Decode threads (default: one per core).
    #[arg(long)]
    pub workers: Option<usize>,
}

impl PipelineArgs {
    pub fn crawl_options(&self) -> CrawlOptions {
        CrawlOptions {
            follow_links: self.follow_links,
            include_hidden: self.hidden,
            include: self.include.clone(),
            exclude: self.exclude.clone(),
        }
    }

    pub fn pipeline_config(&self) -> PipelineConfig {
        let mut pipeline = PipelineConfig {
            batch_size: self.batch_size.max(1),
            ..PipelineConfig::default()
        };
        if let Some(workers) = self.workers {
            pipeline.decode_workers = workers.max(1);
            pipeline.max_abandoned_workers = workers.max(1);
        }
        pipeline
    }
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// The same options as `index`, and its paths.
    #[command(flatten)]
    pub index: IndexArgs,
    /// How long the file system must be quiet before a change is indexed (milliseconds).
    #[arg(long, default_value_t = 1000)]
    pub settle_ms: u64,
}

/// The library and the opened image tower of one index run.
struct Prepared {
    library: PathBuf,
    spec: ModelSpec,
    writer: Writer,
    encoder: Arc<ImageEncoder>,
    options: IndexOptions,
    roots: Vec<PathBuf>,
    /// The OCR stage's reader, when the library reads text.
    text_reader: Option<OcrReader>,
}

fn prepare(args: &IndexArgs, ctx: &Context) -> anyhow::Result<Prepared> {
    let target = &args.target;
    let library = library_dir(ctx, target.library.as_deref())?;
    start_runtime(ctx)?;
    let spec = model_for_index(ctx, target.model.as_deref(), &library)?;
    let session = session_config(ctx, target.device.as_deref(), &spec)?;
    let encoder = ImageEncoder::open(&spec, &session)?;
    tracing::info!(
        model = %spec.name,
        family = %spec.family,
        provider = %encoder.provider_report(),
        "image tower ready"
    );
    let identity = ModelIdentity {
        name: spec.name.clone(),
        checksum: magpie_models::identity::weights_checksum(&spec)?,
        dim: encoder.dim(),
    };
    let writer = Writer::open(
        &library,
        &identity,
        &WriterOptions {
            quantization: args.quantization,
        },
    )?;
    record_model_source(&library, &spec);
    let text_reader = ocr_setting(args, ctx, &library, target.device.as_deref())?;
    let mut roots = Vec::new();
    for path in &args.paths {
        let root = path
            .canonicalize()
            .with_context(|| format!("cannot index {}", path.display()))?;
        roots.push(root);
    }
    let options = IndexOptions {
        crawl: args.pipeline.crawl_options(),
        pipeline: args.pipeline.pipeline_config(),
    };
    Ok(Prepared {
        library,
        spec,
        writer,
        encoder: Arc::new(encoder),
        options,
        roots,
        text_reader,
    })
}

/// Applies `--ocr` / `--no-ocr` / `--ocr-model` to the library's settings (under the writer
/// lock, which `prepare` holds) and loads the OCR engine when the library reads text. A missing
/// OCR model is an error before any indexing starts, with how to get one.
fn ocr_setting(
    args: &IndexArgs,
    ctx: &Context,
    library: &Path,
    device: Option<&str>,
) -> anyhow::Result<Option<OcrReader>> {
    let mut settings = LibrarySettings::load(library)?;
    let before = settings.clone();
    if args.ocr {
        settings.ocr = true;
    }
    if args.no_ocr {
        settings.ocr = false;
    }
    if let Some(model) = &args.ocr_model {
        settings.ocr_model = Some(model.clone());
    }
    // The engine loads before the setting is saved: a model that cannot be used leaves the
    // library's setting as it was.
    let reader = if settings.ocr {
        let engine = super::ocr::ocr_engine(ctx, settings.ocr_model.as_deref(), device)?;
        tracing::info!(model = engine.model_name(), "OCR stage on");
        Some(OcrReader::new(engine))
    } else {
        None
    };
    if settings != before {
        settings.save(library)?;
    }
    Ok(reader)
}

/// Ctrl-C sets the flag once (the pipeline finishes its batch and commits); a second Ctrl-C
/// exits at once, which is safe too, since every commit is atomic.
pub(crate) fn cancel_on_ctrl_c() -> Arc<AtomicBool> {
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    let installed = ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            eprintln!("interrupted again: exiting now (committed work is safe)");
            std::process::exit(130);
        }
        eprintln!(
            "interrupted: finishing the batch in flight and committing (Ctrl-C again to exit now)"
        );
    });
    if let Err(e) = installed {
        tracing::warn!("cannot install the Ctrl-C handler: {e}");
    }
    cancel
}

pub fn run(args: IndexArgs, ctx: &Context) -> anyhow::Result<()> {
    let cancel = cancel_on_ctrl_c();
    let mut prepared = prepare(&args, ctx)?;
    let (summary, text) = run_once(&mut prepared, &cancel, args.json)?;
    report(&summary, text.as_ref(), &prepared.library, args.json)?;
    if summary.interrupted || text.as_ref().is_some_and(|t| t.interrupted) {
        anyhow::bail!("interrupted: the library holds everything committed so far; run the same command again to resume");
    }
    Ok(())
}

/// One index run, then the OCR stage when the library reads text (not after an interrupted
/// index: Ctrl-C means stop).
fn run_once(
    prepared: &mut Prepared,
    cancel: &Arc<AtomicBool>,
    quiet_progress: bool,
) -> anyhow::Result<(Summary, Option<TextSummary>)> {
    let summary = run_index(prepared, cancel, quiet_progress)?;
    let Some(reader) = prepared.text_reader.as_ref() else {
        return Ok((summary, None));
    };
    if summary.interrupted {
        return Ok((summary, None));
    }
    let progress = Arc::new(TextProgress::default());
    let bar = text_bar(
        progress.clone(),
        !quiet_progress && std::io::stderr().is_terminal(),
    );
    let result = read_library_text(
        &mut prepared.writer,
        reader,
        &TextStageOptions::default(),
        &progress,
        cancel,
    );
    bar.finish();
    let text = result.with_context(|| {
        format!(
            "reading the text in {}'s images",
            prepared.library.display()
        )
    })?;
    prepared.writer.flush()?;
    Ok((summary, Some(text)))
}

/// The OCR stage's own progress: a bar on a terminal, else a log line every 10 s.
fn text_bar(progress: Arc<TextProgress>, bar: bool) -> Reporter {
    Reporter::start("ocr-progress", move |stop| {
        let started = Instant::now();
        let bar = bar.then(|| image_bar("reading text "));
        let mut last_log = Instant::now();
        while !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(100));
            let total = progress.total.load(Ordering::Relaxed);
            let done = progress.done.load(Ordering::Relaxed);
            let rate = done as f64 / started.elapsed().as_secs_f64().max(1e-3);
            if let Some(b) = &bar {
                b.set_length(total);
                b.set_position(done);
                b.set_message(format!("{rate:.1} images/s"));
            } else if total > 0 && last_log.elapsed() >= Duration::from_secs(10) {
                last_log = Instant::now();
                tracing::info!("reading text: {done}/{total} images, {rate:.1} images/s");
            }
        }
        if let Some(b) = bar {
            b.finish_and_clear();
        }
    })
}

fn run_index(
    prepared: &mut Prepared,
    cancel: &Arc<AtomicBool>,
    quiet_progress: bool,
) -> anyhow::Result<Summary> {
    let progress = Arc::new(Progress::new());
    let display = progress_display(
        progress.clone(),
        prepared.library.clone(),
        !quiet_progress && std::io::stderr().is_terminal(),
    );
    let encoder = prepared.encoder.clone();
    let result = index(
        &prepared.roots,
        &mut prepared.writer,
        encoder,
        &prepared.options,
        &progress,
        cancel,
    );
    display.finish();
    let summary = result.with_context(|| {
        format!(
            "indexing into {} with model {}",
            prepared.library.display(),
            prepared.spec.name
        )
    })?;
    prepared.writer.flush()?;
    Ok(summary)
}

/// `--json`: the index summary, with the OCR stage's under `text` when it ran.
#[derive(Serialize)]
struct RunReport<'a> {
    #[serde(flatten)]
    summary: &'a Summary,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'a TextSummary>,
}

fn report(
    summary: &Summary,
    text: Option<&TextSummary>,
    library: &Path,
    json: bool,
) -> anyhow::Result<()> {
    if json {
        return super::common::print_json(&RunReport { summary, text });
    }
    eprintln!(
        "indexed {}: {} added, {} updated, {} touched, {} moved, {} deleted, {} failed, {} not images, {} unchanged in {:.1} s ({:.1} images/s)",
        library.display(),
        summary.added,
        summary.updated,
        summary.touched,
        summary.moved,
        summary.deleted,
        summary.failed,
        summary.skipped,
        summary.unchanged,
        summary.elapsed_seconds,
        summary.images_per_second,
    );
    if summary.failed > 0 {
        eprintln!(
            "{} files could not be indexed: `magpie library errors` lists them with the reason",
            summary.failed
        );
    }
    if let Some(t) = text {
        eprintln!(
            "read text in {} of {} images: {} with text ({} lines), {} could not be read, {} changed since indexing, in {:.1} s ({:.2} images/s){}",
            t.read,
            t.to_read,
            t.with_text,
            t.lines,
            t.failed,
            t.changed,
            t.elapsed_seconds,
            t.images_per_second,
            if t.interrupted { "; interrupted" } else { "" }
        );
    }
    Ok(())
}

/// `magpie library reembed`: the same photos embedded again with `model`, into a fresh library
/// that replaces the old one only once it is complete (`magpie_indexer::reembed`: the old
/// library's lock is held until the swap is done, its quantization is kept, tags carry over).
pub fn reembed(
    library: &Path,
    model: &str,
    device: Option<&str>,
    json: bool,
    ctx: &Context,
) -> anyhow::Result<()> {
    start_runtime(ctx)?;
    let spec = super::models::resolve_model(ctx, Some(model))?.context("--model names no model")?;
    let session = session_config(ctx, device, &spec)?;
    let encoder = ImageEncoder::open(&spec, &session)?;
    let identity = ModelIdentity {
        name: spec.name.clone(),
        checksum: magpie_models::identity::weights_checksum(&spec)?,
        dim: encoder.dim(),
    };
    let cancel = cancel_on_ctrl_c();
    let progress = Arc::new(Progress::new());
    let display = progress_display(
        progress.clone(),
        library.to_path_buf(),
        !json && std::io::stderr().is_terminal(),
    );
    let result = magpie_indexer::reembed::reembed(
        library,
        Arc::new(encoder),
        &identity,
        &PipelineConfig::default(),
        &progress,
        &cancel,
    );
    display.finish();
    let done = result?;
    if done.vanished > 0 {
        eprintln!(
            "{} indexed files no longer exist and are left out",
            done.vanished
        );
    }
    // Still under the lock the re-embed returned with.
    record_model_source(library, &spec);
    drop(done.writer);
    report(&done.summary, None, library, json)
}

/// What `magpie serve` reads to show a running index (`magpie_web`'s `read_progress`; removed
/// when the run ends, and ignored by the server once stale, e.g. after a kill).
#[derive(Debug, Serialize)]
struct IndexingFile<'a> {
    active: bool,
    /// Files finished (embedded, failed or skipped) of `total`.
    processed: u64,
    total: u64,
    images_per_sec: f64,
    updated_at: i64,
    pid: u32,
    started_at: i64,
    counters: &'a magpie_indexer::ProgressSnapshot,
}

/// The live progress of one run: a bar on a terminal, else a log line every 10 s; either way
/// `progress.json` in the library every second.
fn progress_display(progress: Arc<Progress>, library: PathBuf, bar: bool) -> Reporter {
    Reporter::start("progress", move |stop| {
        show_progress(&progress, &library, bar, stop)
    })
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn show_progress(progress: &Progress, library: &Path, bar: bool, stop: &AtomicBool) {
    let started = Instant::now();
    let started_at = unix_now();
    let file = library.join(magpie_web::PROGRESS_FILE);
    let bar = bar.then(|| image_bar(""));
    let mut last_log = Instant::now();
    let mut tick = 0u64;
    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(100));
        tick += 1;
        let snap = progress.snapshot();
        let elapsed = started.elapsed().as_secs_f64().max(1e-3);
        let rate = snap.embedded as f64 / elapsed;
        if let Some(b) = &bar {
            b.set_length(snap.total);
            b.set_position(snap.finished());
            b.set_message(format!("{rate:.1} images/s, {} failed", snap.failed));
        } else if last_log.elapsed() >= Duration::from_secs(10) && snap.total > 0 {
            last_log = Instant::now();
            tracing::info!(
                "indexing: {}/{} files, {:.1} images/s, {} failed",
                snap.finished(),
                snap.total,
                rate,
                snap.failed
            );
        }
        if tick % 10 == 1 {
            let record = IndexingFile {
                active: true,
                processed: snap.finished(),
                total: snap.total,
                images_per_sec: rate,
                updated_at: unix_now(),
                pid: std::process::id(),
                started_at,
                counters: &snap,
            };
            write_progress_file(&file, &record);
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let _ = std::fs::remove_file(&file);
}

fn write_progress_file(file: &Path, record: &IndexingFile<'_>) {
    let Ok(bytes) = serde_json::to_vec(record) else {
        return;
    };
    let tmp = file.with_extension("json.tmp");
    if std::fs::write(&tmp, bytes).is_ok() {
        let _ = std::fs::rename(&tmp, file);
    }
}

/// `magpie watch`: index once, then re-run the (cheap, incremental) index whenever the file
/// system under the roots has been quiet for `settle_ms` after a change. Re-running the planner
/// rather than applying single events keeps moves, renames and deletions exactly as `index`
/// treats them, and an event storm (a folder copied in) becomes one run.
pub fn watch(args: WatchArgs, ctx: &Context) -> anyhow::Result<()> {
    use notify::{RecursiveMode, Watcher as _};

    let cancel = cancel_on_ctrl_c();
    let inner = &args.index;
    let mut prepared = prepare(inner, ctx)?;
    // Watch first, index second: a file that appears while the first run is under way then
    // queues an event and gets a second run, instead of falling between crawl and watch.
    let (tx, rx) = std::sync::mpsc::channel();
    let mut watcher = notify::recommended_watcher(move |event| {
        let _ = tx.send(event);
    })
    .context("cannot start watching the file system")?;
    for root in &prepared.roots {
        watcher
            .watch(root, RecursiveMode::Recursive)
            .with_context(|| format!("cannot watch {}", root.display()))?;
    }
    let (summary, text) = run_once(&mut prepared, &cancel, inner.json)?;
    report(&summary, text.as_ref(), &prepared.library, inner.json)?;
    eprintln!(
        "watching {} folder(s) for changes (Ctrl-C to stop)",
        prepared.roots.len()
    );
    let library_root = prepared.library.clone();
    let settle = Duration::from_millis(args.settle_ms.max(50));
    loop {
        if cancel.load(Ordering::SeqCst) {
            return Ok(());
        }
        // Wait for a relevant event, then for quiet.
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(Ok(event)) if is_relevant(&event, &library_root) => {}
            Ok(Ok(_)) | Err(std::sync::mpsc::RecvTimeoutError::Timeout) => continue,
            Ok(Err(e)) => {
                tracing::warn!("file system watch error: {e}");
                continue;
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                anyhow::bail!("the file system watcher stopped")
            }
        }
        let mut quiet_since = Instant::now();
        while quiet_since.elapsed() < settle {
            if let Ok(Ok(event)) = rx.recv_timeout(settle / 4) {
                if is_relevant(&event, &library_root) {
                    quiet_since = Instant::now();
                }
            }
            if cancel.load(Ordering::SeqCst) {
                return Ok(());
            }
        }
        let (summary, text) = run_once(&mut prepared, &cancel, inner.json)?;
        report(&summary, text.as_ref(), &prepared.library, inner.json)?;
    }
}

/// Changes inside the library itself (a library kept under a watched root) must not retrigger.
fn is_relevant(event: &notify::Event, library: &Path) -> bool {
    !event.kind.is_access() && event.paths.iter().any(|p| !p.starts_with(library))
}
