//! `magpie milvus load` and the Milvus search backend (`magpie search --backend milvus://…`):
//! argument parsing and printing; the work is in `magpie-milvus`.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, Subcommand, ValueEnum};
use magpie_milvus::{Backend, Milvus, MilvusAddress, MilvusIndex, VectorType};
use magpie_searcher::Searcher;
use magpie_shard::ShardSet;

use super::common::{searcher_config, LibraryTarget};
use super::models::{resolve_model, session_config, start_runtime};
use super::Context;

#[derive(Debug, Subcommand)]
pub enum MilvusCommand {
    /// Load embedding shards (`magpie embed-shard --out DIR`) into a Milvus collection: creates
    /// it on first use (vector field, metadata fields, HNSW index), then upserts every row by its
    /// id, so loading a shard again replaces its rows instead of duplicating them.
    Load(LoadArgs),
}

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// The Milvus server, http://HOST:PORT.
    #[arg(long, env = "MAGPIE_MILVUS")]
    pub milvus: String,
    /// The collection to create or add to.
    #[arg(long)]
    pub collection: String,
    /// The vector field's type when the collection is created: f32, or f16 for half the memory
    /// (Milvus 2.4+; Milvus Lite stores f32 only).
    #[arg(long, value_enum, default_value = "f32")]
    pub vector: VectorArg,
    /// Rows per upsert.
    #[arg(long, default_value_t = 1000)]
    pub batch: usize,
    /// Shard folders (`--out` of `magpie embed-shard`).
    #[arg(value_name = "SHARD_DIR", required = true)]
    pub dirs: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum VectorArg {
    F32,
    F16,
}

pub fn run(command: MilvusCommand, _ctx: &Context) -> anyhow::Result<()> {
    match command {
        MilvusCommand::Load(args) => load(args),
    }
}

fn load(args: LoadArgs) -> anyhow::Result<()> {
    let sets = open_shards(&args.dirs)?;
    let address = MilvusAddress::parse(&args.milvus)?;
    let milvus = Milvus::connect(&address)?;
    let options = magpie_milvus::LoadOptions {
        vector: match args.vector {
            VectorArg::F32 => VectorType::F32,
            VectorArg::F16 => VectorType::F16,
        },
        batch: args.batch,
    };
    let bar = load_bar(sets.iter().map(ShardSet::len).sum::<usize>());
    let summary = magpie_milvus::load(&milvus, &args.collection, &sets, &options, |done, _| {
        bar.set_position(done as u64)
    })?;
    bar.finish_and_clear();
    println!(
        "{} {}: {} rows from {} shards in {:.1} s ({:.0} rows/s); the collection holds {} images",
        if summary.created {
            "created"
        } else {
            "updated"
        },
        args.collection,
        summary.rows,
        summary.shards,
        summary.seconds,
        summary.rows as f64 / summary.seconds.max(1e-9),
        summary.collection_rows
    );
    Ok(())
}

/// A bar of images loaded, on a terminal only (a log gets the summary line).
fn load_bar(total: usize) -> indicatif::ProgressBar {
    use std::io::IsTerminal as _;
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = super::common::image_bar("loading ");
    bar.set_length(total as u64);
    bar
}

fn open_shards(dirs: &[PathBuf]) -> anyhow::Result<Vec<ShardSet>> {
    dirs.iter()
        .map(|d| ShardSet::open(d).with_context(|| format!("shard folder {}", d.display())))
        .collect()
}

/// Where `magpie search --backend` finds what Milvus does not hold.
#[derive(Debug, Clone, Default, Args)]
pub struct BackendArgs {
    /// Search a Milvus collection instead of a local library: milvus://HOST:PORT/COLLECTION
    /// (needs --shards: the folders it was loaded from, for keywords, records and thumbnails).
    #[arg(long, value_name = "milvus://HOST:PORT/COLLECTION")]
    pub backend: Option<String>,
    /// Shard folders the collection was loaded from (repeatable).
    #[arg(long = "shards", value_name = "DIR")]
    pub shards: Vec<PathBuf>,
    /// Where to keep the keyword index of the shards (default: SHARD_DIR/keywords/COLLECTION).
    #[arg(long, value_name = "DIR")]
    pub keywords: Option<PathBuf>,
}

/// Opens the Milvus backend and a searcher for its model (`--model`, MAGPIE_MODEL or the
/// config's; a collection does not say where its model lives).
pub fn open_backend(
    ctx: &Context,
    backend: &BackendArgs,
    target: &LibraryTarget,
) -> anyhow::Result<Option<(Searcher, MilvusIndex)>> {
    let Some(url) = &backend.backend else {
        return Ok(None);
    };
    let collection = Backend::parse(url)?;
    if backend.shards.is_empty() {
        anyhow::bail!(
            "--backend {url} needs --shards DIR: the shard folders the collection was loaded from"
        );
    }
    start_runtime(ctx)?;
    let spec = resolve_model(ctx, target.model.as_deref())?.with_context(|| {
        format!("--backend {url} needs --model DIR: the model the shards were embedded with")
    })?;
    let session = session_config(ctx, target.device.as_deref(), &spec)?;
    let config = searcher_config(ctx, target.language(ctx))?;
    let index = MilvusIndex::open(&collection, &backend.shards, backend.keywords.as_deref())?;
    let cache = backend.shards[0].join("cache").join("text");
    let (searcher, _, _) =
        magpie_searcher::library::open_searcher(&spec, &session, config, &cache)?;
    Ok(Some((searcher, index)))
}
