//! What commit pacing buys when indexing into a big library.
//!
//! ```text
//! commitbench --base LIB --photos DIR --model DIR [--work DIR] [--factors 0,4]
//! ```
//!
//! `LIB` is a padded library (`querybench build --dim D`, with `D` the model's dimension). For
//! each pause factor (0 = a commit every `commit_every` results, as before pacing; 4 = Magpie's
//! default), a fresh copy of `LIB` is indexed with every photo in `DIR` through the real pipeline
//! (`magpie_indexer::library::index`, catalog and HNSW file included), one factor after the
//! other in one run; it reports the wall time, the number of commits (library generations) and
//! images per second. Each commit rewrites the HNSW file, so on a big library the unpaced run
//! spends its time there.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use magpie_bench::{start_runtime, Args};
use magpie_catalog::{Reader, Writer};
use magpie_indexer::library::{index, IndexOptions};
use magpie_indexer::{PipelineConfig, Progress};
use magpie_models::{ImageEncoder, ModelSpec, SessionConfig};
use serde_json::json;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("create {}: {e}", to.display()));
    for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("{}: {e}", from.display())) {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target)
                .unwrap_or_else(|e| panic!("copy {}: {e}", entry.path().display()));
        }
    }
}

fn main() {
    let args = Args::from_env();
    let base = PathBuf::from(args.require("base"));
    let photos = PathBuf::from(args.require("photos"));
    let model_dir = PathBuf::from(args.require("model"));
    let work = PathBuf::from(args.get("work").unwrap_or("bench/out/work/commitbench"));
    let factors: Vec<u32> = args
        .get("factors")
        .unwrap_or("0,4")
        .split(',')
        .map(|f| f.trim().parse().expect("--factors: numbers"))
        .collect();
    start_runtime();
    let spec = ModelSpec::load(&model_dir).unwrap_or_else(|e| panic!("model: {e}"));
    let encoder = Arc::new(
        ImageEncoder::open(&spec, &SessionConfig::default())
            .unwrap_or_else(|e| panic!("image tower: {e}")),
    );
    let base_images = Reader::open(&base)
        .unwrap_or_else(|e| panic!("base library: {e}"))
        .snapshot()
        .len();
    let mut runs = Vec::new();
    for factor in &factors {
        let library = work.join(format!("lib-factor-{factor}"));
        let _ = std::fs::remove_dir_all(&library);
        copy_dir(&base, &library);
        let mut writer =
            Writer::open_existing(&library).unwrap_or_else(|e| panic!("open copy: {e}"));
        let generation = writer.generation();
        let options = IndexOptions {
            pipeline: PipelineConfig {
                commit_pause_factor: *factor,
                ..PipelineConfig::default()
            },
            ..IndexOptions::default()
        };
        let started = Instant::now();
        let summary = index(
            std::slice::from_ref(&photos),
            &mut writer,
            encoder.clone(),
            &options,
            &Arc::new(Progress::new()),
            &Arc::new(AtomicBool::new(false)),
        )
        .unwrap_or_else(|e| panic!("index: {e}"));
        let seconds = started.elapsed().as_secs_f64();
        let commits = writer.generation() - generation;
        eprintln!(
            "factor {factor}: {} added in {seconds:.1} s, {commits} commits",
            summary.added
        );
        runs.push(json!({
            "commit_pause_factor": factor,
            "added": summary.added,
            "failed": summary.failed,
            "seconds": seconds,
            "commits": commits,
            "images_per_second": summary.added as f64 / seconds,
        }));
        drop(writer);
        let _ = std::fs::remove_dir_all(&library);
    }
    let speedup = match (runs.first(), runs.last()) {
        (Some(a), Some(b)) if runs.len() > 1 => {
            a["seconds"].as_f64().unwrap_or(f64::NAN) / b["seconds"].as_f64().unwrap_or(f64::NAN)
        }
        _ => f64::NAN,
    };
    let report = json!({
        "bench": "commits",
        "base_images": base_images,
        "photos": photos,
        "model": model_dir,
        "runs": runs,
        "speedup_first_over_last": speedup,
    });
    println!("{}", serde_json::to_string_pretty(&report).expect("json"));
}
