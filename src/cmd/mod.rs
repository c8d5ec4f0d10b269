//! Subcommands. Each module owns its clap arguments and a `run` function; this module holds the
//! global options and the dispatch.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::Config;

mod common;
mod doctor;
mod embed;
mod index;
mod library;
mod models;
mod search;
mod serve;

#[derive(Debug, Parser)]
#[command(
    name = "magpie",
    version,
    about = "Semantic photo search: find photos by describing them"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every subcommand understands.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Config file (default: $XDG_CONFIG_HOME/magpie/config.toml).
    #[arg(long, global = true, env = "MAGPIE_CONFIG")]
    pub config: Option<PathBuf>,
    /// ONNX Runtime shared library (libonnxruntime.so) or the folder holding it.
    #[arg(long, global = true, env = "MAGPIE_ORT_LIB")]
    pub ort_lib: Option<PathBuf>,
    /// More log output (-v, -vv, -vvv); MAGPIE_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the ONNX Runtime installation, execution providers and a model.
    Doctor(doctor::DoctorArgs),
    /// Print CLIP embeddings of texts and images.
    Embed(embed::EmbedArgs),
    /// Manage the model store (pull from the Hugging Face hub, list).
    #[command(subcommand)]
    Models(models::ModelsCommand),
    /// Index photo folders into a library (incremental: only new and changed files are read).
    Index(index::IndexArgs),
    /// Index, then keep the library current as files appear, change, move and disappear.
    Watch(index::WatchArgs),
    /// Search the library by text, by example image, or both.
    Search(search::SearchArgs),
    /// Zero-shot tagging: score every image against labels and store the tags that fit.
    Tag(search::TagArgs),
    /// Groups of near-duplicate images (resized, re-compressed, cropped, flipped copies).
    Dupes(search::DupesArgs),
    /// Library maintenance: stats, verify, rebuild, compact, errors.
    Library(library::LibraryArgs),
    /// Serve the web UI and JSON API.
    Serve(serve::ServeArgs),
}

/// What every command gets besides its own arguments.
pub struct Context {
    pub global: GlobalArgs,
    pub config: Config,
    pub config_path: Option<PathBuf>,
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    let (config, config_path) = Config::load(cli.global.config.as_deref())?;
    let ctx = Context {
        global: cli.global,
        config,
        config_path,
    };
    match cli.command {
        Command::Doctor(args) => doctor::run(args, &ctx),
        Command::Embed(args) => embed::run(args, &ctx),
        Command::Models(cmd) => models::run(cmd, &ctx),
        Command::Index(args) => index::run(args, &ctx),
        Command::Watch(args) => index::watch(args, &ctx),
        Command::Search(args) => search::run(args, &ctx),
        Command::Tag(args) => search::tag(args, &ctx),
        Command::Dupes(args) => search::dupes(args, &ctx),
        Command::Library(args) => library::run(args, &ctx),
        Command::Serve(args) => serve::run(args, &ctx),
    }
}
