//! `magpie library …`: look after a library on disk.
//!
//! `stats` and `errors` only read: they never take the writer lock and never upgrade, repair or
//! otherwise change a byte of the library, so they work while `magpie index` runs, and a library
//! that needs the writer (an older format, derived indexes behind the database) is reported with
//! the command that fixes it. `verify`, `rebuild`, `compact`, `tune` and `reembed` take the lock,
//! and opening for writing also upgrades an older format (see `magpie-migrations`).

use std::path::PathBuf;

use clap::{Args, Subcommand};
use magpie_catalog::{Reader, Writer};
use serde::Serialize;

use super::common::{format_bytes, format_date, library_dir, print_json, PathJson};
use super::Context;

#[derive(Debug, Args)]
pub struct LibraryArgs {
    /// Library directory (default: MAGPIE_LIBRARY, the config's `library`, else
    /// $XDG_DATA_HOME/magpie/library).
    #[arg(long, global = true, env = "MAGPIE_LIBRARY")]
    pub library: Option<PathBuf>,
    /// JSON on stdout.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: LibraryCommand,
}

#[derive(Debug, Subcommand)]
pub enum LibraryCommand {
    /// Counts, sizes on disk, model and format version.
    Stats,
    /// Check that the database, the vector index and the keyword index agree (upgrades an older
    /// library first); exits non-zero when they do not.
    Verify,
    /// Rebuild the vector and keyword indexes from the database.
    Rebuild,
    /// Drop deleted vectors from the vector index.
    Compact,
    /// Measure the search breadth (HNSW ef) this library's vectors need for a recall target, and
    /// search with it from now on (done on its own from 10,000 images, and again each time the
    /// library doubles).
    Tune {
        /// recall@10 against an exact scan to aim for, between 0 and 1.
        #[arg(long, default_value_t = magpie_catalog::TARGET_RECALL)]
        target: f64,
        /// The broadest search to allow: every query costs about proportionally to it, so data
        /// that would need more is reported as missing the target instead.
        #[arg(long, default_value_t = magpie_catalog::DEFAULT_MAX_BREADTH)]
        max_breadth: usize,
    },
    /// Files that could not be indexed, and why.
    Errors,
    /// Re-embed every image with another model (a library holds one embedding space): builds
    /// the new library beside the old one, keeps tags, then swaps it in.
    Reembed {
        /// The new model: a directory or a name from `magpie models list`.
        #[arg(long)]
        model: String,
        /// Device: auto, cpu, cuda[:N], tensorrt[:N].
        #[arg(long)]
        device: Option<String>,
    },
}

pub fn run(args: LibraryArgs, ctx: &Context) -> anyhow::Result<()> {
    let dir = library_dir(ctx, args.library.as_deref())?;
    match args.command {
        LibraryCommand::Stats => {
            // The reader needs no lock. A library it cannot read (an older format, a repair
            // due) is refused with the fix, never opened by the writer, which would upgrade or
            // repair it behind the user's back — or fail on the lock of a running index.
            let stats = Reader::open(&dir)?.stats()?;
            if args.json {
                return print_json(&stats);
            }
            println!("library      {}", stats.path.display());
            println!("format       version {}", stats.format_version);
            if let Some(model) = &stats.model {
                println!(
                    "model        {} ({} dimensions, checksum {})",
                    model.name,
                    model.dim,
                    &model.checksum[..model.checksum.len().min(12)]
                );
                if let Some(family) = super::common::recorded_family(&dir) {
                    println!("model family {family}");
                }
            }
            println!("generation   {}", stats.generation);
            println!("images       {}", stats.images);
            println!("vectors      {} ({:?})", stats.vectors, stats.quantization);
            println!("search       {}", describe_breadth(&stats));
            println!("failures     {}", stats.failures);
            let settings = magpie_catalog::LibrarySettings::load(&dir).unwrap_or_default();
            println!(
                "text (OCR)   {} of {} images read, {} with text{}",
                stats.text_read,
                stats.images,
                stats.text_found,
                if settings.ocr {
                    "; on: `magpie index` reads new and changed images"
                } else if stats.text_read > 0 {
                    "; off (`magpie index --ocr` turns it on)"
                } else {
                    " (`magpie index --ocr` reads it)"
                }
            );
            println!(
                "on disk      {} (database {}, vectors {}, keywords {}, thumbnails {})",
                format_bytes(stats.bytes_total),
                format_bytes(stats.bytes_database),
                format_bytes(stats.bytes_vectors),
                format_bytes(stats.bytes_keywords),
                format_bytes(stats.bytes_thumbnails)
            );
            if let (Some(all), Some(index_only)) = (
                stats.bytes_total.checked_div(stats.images),
                (stats.bytes_total - stats.bytes_thumbnails).checked_div(stats.images),
            ) {
                println!(
                    "per image    {} ({} without thumbnails)",
                    format_bytes(all),
                    format_bytes(index_only)
                );
            }
            Ok(())
        }
        LibraryCommand::Verify => {
            let writer = Writer::open_existing(&dir)?;
            let report = writer.verify()?;
            if args.json {
                print_json(&report)?;
            } else {
                println!(
                    "generation {}: {} records, {} embeddings, {} vectors, {} keyword documents",
                    report.generation,
                    report.records,
                    report.embeddings,
                    report.vectors,
                    report.keyword_docs
                );
                for problem in &report.problems {
                    println!("problem: {problem}");
                }
            }
            if !report.ok {
                anyhow::bail!(
                    "library {} is inconsistent ({} problems); `magpie library rebuild` rebuilds the indexes from the database",
                    dir.display(),
                    report.problems.len()
                );
            }
            if !args.json {
                println!("ok");
            }
            Ok(())
        }
        LibraryCommand::Rebuild => {
            let mut writer = Writer::open_existing(&dir)?;
            writer.rebuild()?;
            let report = writer.verify()?;
            eprintln!(
                "rebuilt {}: {} images, consistent: {}",
                dir.display(),
                report.records,
                report.ok
            );
            Ok(())
        }
        LibraryCommand::Tune {
            target,
            max_breadth,
        } => {
            if !(target > 0.0 && target <= 1.0) {
                anyhow::bail!("--target {target}: give a recall between 0 and 1 (e.g. 0.98)");
            }
            let mut writer = Writer::open_existing(&dir)?;
            let started = std::time::Instant::now();
            let tuning = writer.tune_search(target, max_breadth)?;
            let stats = writer.stats()?;
            if args.json {
                return print_json(&stats);
            }
            if tuning.is_none() {
                println!(
                    "{} has {} vectors, fewer than {}: it searches at the default breadth",
                    dir.display(),
                    stats.vectors,
                    magpie_catalog::TUNE_MIN_VECTORS
                );
            }
            println!(
                "search       {} (measured in {:.1} s)",
                describe_breadth(&stats),
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        LibraryCommand::Compact => {
            let mut writer = Writer::open_existing(&dir)?;
            let before = writer.stats()?.bytes_vectors;
            writer.compact()?;
            let after = writer.stats()?.bytes_vectors;
            eprintln!(
                "compacted the vector index of {}: {} → {}",
                dir.display(),
                format_bytes(before),
                format_bytes(after)
            );
            Ok(())
        }
        LibraryCommand::Reembed { model, device } => {
            super::index::reembed(&dir, &model, device.as_deref(), args.json, ctx)
        }
        LibraryCommand::Errors => {
            // Read-only, like `stats`.
            let failures = Reader::open(&dir)?.failures();
            if args.json {
                #[derive(Serialize)]
                struct Row {
                    #[serde(flatten)]
                    path: PathJson,
                    reason: String,
                    at: i64,
                }
                let rows: Vec<Row> = failures
                    .iter()
                    .map(|f| Row {
                        path: PathJson::of(&f.path),
                        reason: f.reason.clone(),
                        at: f.at,
                    })
                    .collect();
                return print_json(&rows);
            }
            if failures.is_empty() {
                println!("no failures recorded");
            }
            for f in &failures {
                println!(
                    "{}  {}: {}",
                    format_date(f.at),
                    f.path.display(),
                    f.reason.trim_end()
                );
            }
            Ok(())
        }
    }
}

/// One line on the breadth searches use and what it was measured to give.
fn describe_breadth(stats: &magpie_catalog::Stats) -> String {
    match &stats.search_tuning {
        None => format!(
            "breadth {} (default; measured from {} images)",
            stats.expansion_search,
            magpie_catalog::TUNE_MIN_VECTORS
        ),
        Some(t) => {
            let families: Vec<String> = t
                .recall
                .iter()
                .map(|f| format!("{:?} {:.3}", f.family, f.recall).to_lowercase())
                .collect();
            format!(
                "breadth {}: recall@10 {} on {} probes each at {} vectors ({} the {:.3} target)",
                t.expansion_search,
                families.join(", "),
                t.probes,
                t.vectors,
                if t.reached { "meets" } else { "misses" },
                t.target_recall
            )
        }
    }
}
