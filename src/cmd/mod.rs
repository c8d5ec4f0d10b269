//! Subcommands. Each module owns its clap arguments and a `run` function; this module holds the
//! global options and the dispatch.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::Config;

mod doctor;
mod embed;
mod models;

#[derive(Debug, Parser)]
#[command(name = "magpie", version, about = "Semantic photo search: find photos by describing them")]
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
}

/// What every command gets besides its own arguments.
pub struct Context {
    pub global: GlobalArgs,
    pub config: Config,
    pub config_path: Option<PathBuf>,
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    let (config, config_path) = Config::load(cli.global.config.as_deref())?;
    let ctx = Context { global: cli.global, config, config_path };
    match cli.command {
        Command::Doctor(args) => doctor::run(args, &ctx),
        Command::Embed(args) => embed::run(args, &ctx),
        Command::Models(cmd) => models::run(cmd, &ctx),
    }
}
