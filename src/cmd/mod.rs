//! Subcommands. Each module owns its clap arguments and a `run` function; this module holds the
//! global options and the dispatch.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::Config;

mod cluster;
mod common;
mod doctor;
mod embed;
mod embed_shard;
mod index;
mod library;
mod milvus;
mod models;
mod ocr;
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
    /// Read the words in images (OCR): lines with boxes and confidences.
    Ocr(ocr::OcrArgs),
    /// Embed one slice (K of N) of a huge collection into clip-retrieval's files (npy +
    /// parquet) and thumbnails, for many hosts at once; an up-to-date shard is skipped.
    EmbedShard(embed_shard::EmbedShardArgs),
    /// Embed on many hosts through a Ray cluster: submit one job per shard, follow, retry;
    /// the status of a run.
    #[command(subcommand)]
    Cluster(cluster::ClusterCommand),
    /// Load embedding shards into a Milvus collection (search it with `search --backend`).
    #[command(subcommand)]
    Milvus(milvus::MilvusCommand),
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
        Command::Ocr(args) => ocr::run(args, &ctx),
        Command::EmbedShard(args) => embed_shard::run(args, &ctx),
        Command::Cluster(cmd) => cluster::run(cmd, &ctx),
        Command::Milvus(cmd) => milvus::run(cmd, &ctx),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    /// Every subcommand, with the names of the commands above it (`magpie library stats`).
    fn all_commands(command: &clap::Command, path: &str, out: &mut Vec<(String, clap::Command)>) {
        let path = format!("{path} {}", command.get_name()).trim().to_string();
        out.push((path.clone(), command.clone()));
        for sub in command.get_subcommands() {
            all_commands(sub, &path, out);
        }
    }

    fn commands() -> Vec<(String, clap::Command)> {
        let mut command = Cli::command();
        command.build();
        let mut out = Vec::new();
        all_commands(&command, "", &mut out);
        out
    }

    /// The text `--help` shows for `long` in `command`.
    fn help_of(command: &str, long: &str) -> String {
        let (_, cmd) = commands()
            .into_iter()
            .find(|(path, _)| path == command)
            .unwrap_or_else(|| panic!("no command {command}"));
        let arg = cmd
            .get_arguments()
            .find(|a| a.get_long() == Some(long))
            .unwrap_or_else(|| panic!("{command} has no --{long}"));
        let mut text = arg
            .get_long_help()
            .or(arg.get_help())
            .map(ToString::to_string)
            .unwrap_or_default();
        if let Some(env) = arg.get_env() {
            text.push_str(&format!(" [env: {}]", env.to_string_lossy()));
        }
        text
    }

    #[test]
    fn every_argument_and_command_has_help_text() {
        let mut missing = Vec::new();
        for (path, command) in commands() {
            // clap's own `help` subcommands document themselves.
            if path.ends_with(" help") {
                continue;
            }
            if path != "magpie" && command.get_about().is_none() {
                missing.push(format!("{path} (the command)"));
            }
            for arg in command.get_arguments() {
                let id = arg.get_id().as_str();
                if matches!(id, "help" | "version") {
                    continue;
                }
                let has_help = arg
                    .get_help()
                    .is_some_and(|h| !h.to_string().trim().is_empty());
                if !has_help {
                    let name = arg
                        .get_long()
                        .map(|l| format!("--{l}"))
                        .unwrap_or_else(|| id.to_uppercase());
                    missing.push(format!("{path} {name}"));
                }
            }
        }
        assert!(missing.is_empty(), "no help text: {missing:#?}");
    }

    #[test]
    fn every_library_option_names_its_variable() {
        let mut checked = Vec::new();
        for (path, command) in commands() {
            for arg in command.get_arguments() {
                if arg.get_long() != Some("library") {
                    continue;
                }
                assert_eq!(
                    arg.get_env()
                        .map(|e| e.to_string_lossy().into_owned())
                        .as_deref(),
                    Some("MAGPIE_LIBRARY"),
                    "{path} --library"
                );
                checked.push(path.clone());
            }
        }
        // index, watch, search, tag, dupes and serve take --library, and library's subcommands
        // inherit it.
        for command in [
            "index",
            "watch",
            "search",
            "tag",
            "dupes",
            "serve",
            "library stats",
        ] {
            assert!(
                checked.contains(&format!("magpie {command}")),
                "magpie {command} --library not checked: {checked:?}"
            );
        }
        // …as `--model` names its own.
        assert!(help_of("magpie search", "model").contains("[env: MAGPIE_MODEL]"));
    }

    #[test]
    fn serve_help_keeps_the_token_out_of_ps() {
        let help = help_of("magpie serve", "token");
        for needed in ["MAGPIE_TOKEN", "ps", "config", "`token`"] {
            assert!(help.contains(needed), "no {needed:?} in: {help}");
        }
    }

    #[test]
    fn page_options_are_bounded_on_the_command_line() {
        let parse = |args: &[&str]| Cli::try_parse_from(args.iter().copied()).map(|_| ());
        assert!(parse(&["magpie", "search", "--limit", "1000", "red"]).is_ok());
        assert!(parse(&["magpie", "search", "--offset", "100000", "red"]).is_ok());
        for bad in [
            ["--limit", "0"],
            ["--limit", "1001"],
            ["--offset", "100001"],
            ["--offset", "18446744073709551615"],
            ["--offset", "-1"],
        ] {
            let err = parse(&["magpie", "search", bad[0], bad[1], "red"])
                .expect_err(&format!("{bad:?} accepted"))
                .to_string();
            assert!(err.contains(bad[0]), "{bad:?}: {err}");
        }
        let help = help_of("magpie search", "limit") + &help_of("magpie search", "offset");
        assert!(help.contains("1000") && help.contains("100000"), "{help}");
    }

    #[test]
    fn the_config_file_is_config_toml_as_the_help_says() {
        let help = help_of("magpie", "config");
        assert!(help.contains("magpie/config.toml"), "{help}");
        assert!(help.contains("MAGPIE_CONFIG"), "{help}");
    }
}
