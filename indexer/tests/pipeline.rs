//! End-to-end tests of crawl → plan → pipeline with real (simple) backends.

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{solid_jpeg, solid_png, Gate, ImageCrateDecoder, MeanColourEmbedder, VecSink};
use magpie_indexer::{
    apply_plan, crawl, plan_changes, Blake3Hasher, CrawlOptions, FailureReason, ImageFormat,
    IndexError, KnownFile, ManualClock, PipelineConfig, Progress, Summary,
};

fn test_config() -> PipelineConfig {
    PipelineConfig {
        decode_workers: 2,
        batch_size: 4,
        batch_timeout: Duration::from_millis(20),
        commit_every: 8,
        commit_interval: Duration::from_secs(1),
        // Generous: tiny test images never come near it, even on a loaded machine.
        file_time_limit: Duration::from_secs(60),
        max_abandoned_workers: 2,
        ..PipelineConfig::default()
    }
}

struct Run {
    summary: Result<Summary, IndexError>,
    progress: Arc<Progress>,
}

fn index(
    root: &Path,
    known: Vec<KnownFile>,
    embedder: MeanColourEmbedder,
    sink: &mut VecSink,
    config: &PipelineConfig,
    cancel: &Arc<AtomicBool>,
) -> Run {
    let found = crawl(&[root.to_path_buf()], &CrawlOptions::default()).unwrap();
    let plan = plan_changes(known, &found, &Blake3Hasher);
    let progress = Arc::new(Progress::new());
    let summary = apply_plan(
        plan,
        found.failures,
        Arc::new(ImageCrateDecoder::default()),
        Arc::new(embedder),
        sink,
        config,
        &progress,
        cancel,
    );
    Run { summary, progress }
}

/// [`index`] of a folder into an empty library, never cancelled.
fn index_fresh(
    root: &Path,
    embedder: MeanColourEmbedder,
    sink: &mut VecSink,
    config: &PipelineConfig,
) -> Run {
    index(root, Vec::new(), embedder, sink, config, &no_cancel())
}

fn no_cancel() -> Arc<AtomicBool> {
    Arc::new(AtomicBool::new(false))
}

fn canonical(dir: &Path, name: &str) -> PathBuf {
    std::fs::canonicalize(dir).unwrap().join(name)
}

fn assert_colour(embedding: &[f32], rgb: [u8; 3], tolerance: f32) {
    for (got, want) in embedding.iter().zip(rgb) {
        assert!(
            (got - f32::from(want) / 255.0).abs() < tolerance,
            "{embedding:?} vs {rgb:?}"
        );
    }
}

#[test]
fn indexes_a_library_then_follows_its_changes() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    solid_png(&root.join("red.png"), 64, 48, [200, 20, 20]);
    solid_jpeg(&root.join("sub/teal.jpg"), 40, 40, [20, 120, 160]);
    solid_png(&root.join("grey-png-named.jpg"), 30, 20, [128, 128, 128]);
    solid_jpeg(&root.join("big.jpg"), 2000, 1500, [250, 200, 10]);
    std::fs::write(root.join("notes.txt"), "shopping list").unwrap();
    std::fs::write(
        root.join("broken.jpg"),
        [0x13u8, 0x37, 0x42, 0x99, 0x01, 0x02, 0x03, 0x04],
    )
    .unwrap();
    let mut truncated = std::fs::read(root.join("red.png")).unwrap();
    truncated.truncate(60);
    std::fs::write(root.join("truncated.png"), truncated).unwrap();

    let mut sink = VecSink::default();
    let run = index_fresh(
        root,
        MeanColourEmbedder::default(),
        &mut sink,
        &test_config(),
    );
    let summary = run.summary.unwrap();
    assert_eq!(
        (summary.added, summary.failed, summary.skipped),
        (4, 2, 1),
        "{summary:?}"
    );
    assert!(!summary.interrupted);
    assert_eq!(summary.not_attempted, 0);
    let snapshot = run.progress.snapshot();
    assert_eq!(
        (snapshot.total, snapshot.embedded, snapshot.committed),
        (7, 4, 7)
    );

    let indexed = sink.indexed();
    let find = |name: &str| {
        *indexed
            .iter()
            .find(|photo| photo.file.path == canonical(root, name))
            .unwrap()
    };
    assert_colour(&find("red.png").embedding, [200, 20, 20], 0.01);
    assert_colour(&find("sub/teal.jpg").embedding, [20, 120, 160], 0.03);
    let grey = find("grey-png-named.jpg");
    assert_eq!(grey.format, ImageFormat::Png, "content wins over the name");
    assert_colour(&grey.embedding, [128, 128, 128], 0.01);
    let big = find("big.jpg");
    assert_eq!((big.width, big.height), (2000, 1500));
    assert_eq!(
        (big.thumbnails.grid.width, big.thumbnails.grid.height),
        (341, 256)
    );
    assert_eq!(
        (big.thumbnails.preview.width, big.thumbnails.preview.height),
        (1280, 960)
    );
    assert_eq!(
        big.content_hash,
        magpie_indexer::ContentHash::of_bytes(&std::fs::read(root.join("big.jpg")).unwrap())
    );

    let failures = sink.failed();
    let reason_of = |name: &str| {
        &failures
            .iter()
            .find(|failure| failure.path == canonical(root, name))
            .unwrap()
            .reason
    };
    assert_eq!(reason_of("broken.jpg"), &FailureReason::NotAnImage);
    assert!(
        matches!(reason_of("truncated.png"), FailureReason::Decode(_)),
        "{:?}",
        reason_of("truncated.png")
    );

    // Second run over the unchanged tree: nothing to do.
    let known = sink.known_files();
    let found = crawl(&[root.to_path_buf()], &CrawlOptions::default()).unwrap();
    let plan = plan_changes(known.clone(), &found, &Blake3Hasher);
    assert_eq!((plan.jobs.len(), plan.unchanged), (0, 7));

    // Move one photo, delete one, change one.
    std::fs::create_dir(root.join("moved")).unwrap();
    std::fs::rename(root.join("red.png"), root.join("moved/red.png")).unwrap();
    std::fs::remove_file(root.join("sub/teal.jpg")).unwrap();
    solid_png(&root.join("grey-png-named.jpg"), 31, 20, [100, 100, 100]);
    let commits_before = sink.commits.len();
    let run = index(
        root,
        known,
        MeanColourEmbedder::default(),
        &mut sink,
        &test_config(),
        &no_cancel(),
    );
    let summary = run.summary.unwrap();
    assert_eq!(
        (
            summary.moved,
            summary.deleted,
            summary.updated,
            summary.added
        ),
        (1, 1, 1, 0),
        "{summary:?}"
    );
    assert_eq!(summary.unchanged, 4);
    let new_commits = &sink.commits[commits_before..];
    let moved: Vec<_> = new_commits
        .iter()
        .flat_map(|commit| &commit.moved)
        .collect();
    assert_eq!(moved[0].from, canonical(root, "red.png"));
    assert_eq!(moved[0].to.path, canonical(root, "moved/red.png"));
    let reembedded: Vec<_> = new_commits
        .iter()
        .flat_map(|commit| &commit.indexed)
        .collect();
    assert_eq!(reembedded.len(), 1, "the moved photo keeps its embedding");
    assert_colour(&reembedded[0].embedding, [100, 100, 100], 0.01);
}

#[test]
fn a_hanging_decode_is_abandoned_and_the_run_finishes() {
    let dir = tempfile::tempdir().unwrap();
    for index in 0..5 {
        solid_png(
            &dir.path().join(format!("photo-{index}.png")),
            16,
            16,
            [200, 40 * index as u8, 10],
        );
    }
    solid_png(&dir.path().join("hangs.png"), 16, 16, [0, 255, 0]);
    // The hang moves the clock past the limit; the clock stands still otherwise, so no other
    // file can ever be over it, however loaded the machine. One worker: while the hanging file
    // waits, no other decode is under way.
    let clock = Arc::new(ManualClock::default());
    let limit = Duration::from_secs(500);
    let gate = Arc::new(Gate::advancing(Arc::clone(&clock), 2 * limit));
    let embedder = MeanColourEmbedder {
        hang_on_green: Some(Arc::clone(&gate)),
        ..Default::default()
    };
    let config = PipelineConfig {
        decode_workers: 1,
        file_time_limit: limit,
        clock,
        ..test_config()
    };
    let mut sink = VecSink::default();

    let summary = index_fresh(dir.path(), embedder, &mut sink, &config)
        .summary
        .unwrap();
    // The decode is still blocked at the gate: the run ended without it.
    assert_eq!(gate.waiting.load(Ordering::SeqCst), 1);
    gate.open();

    assert_eq!((summary.added, summary.failed), (5, 1), "{summary:?}");
    let failures = sink.failed();
    assert_eq!(failures[0].path, canonical(dir.path(), "hangs.png"));
    assert_eq!(failures[0].reason, FailureReason::Timeout { limit });
}

#[test]
fn when_every_worker_is_stuck_the_rest_is_reported_not_waited_for() {
    let dir = tempfile::tempdir().unwrap();
    solid_png(&dir.path().join("a-hangs.png"), 8, 8, [0, 255, 0]);
    for index in 0..4 {
        solid_png(
            &dir.path().join(format!("b-{index}.png")),
            8,
            8,
            [200, 10, 10],
        );
    }
    let clock = Arc::new(ManualClock::default());
    let limit = Duration::from_secs(300);
    let gate = Arc::new(Gate::advancing(Arc::clone(&clock), 2 * limit));
    let embedder = MeanColourEmbedder {
        hang_on_green: Some(Arc::clone(&gate)),
        ..Default::default()
    };
    let config = PipelineConfig {
        decode_workers: 1,
        max_abandoned_workers: 1,
        file_time_limit: limit,
        clock,
        ..test_config()
    };
    let mut sink = VecSink::default();
    let summary = index_fresh(dir.path(), embedder, &mut sink, &config)
        .summary
        .unwrap();
    gate.open();

    assert_eq!(summary.failed, 5, "{summary:?}");
    let reasons: Vec<_> = sink
        .failed()
        .iter()
        .map(|failure| failure.reason.clone())
        .collect();
    assert_eq!(
        reasons
            .iter()
            .filter(|reason| matches!(reason, FailureReason::Timeout { .. }))
            .count(),
        1
    );
    assert_eq!(
        reasons
            .iter()
            .filter(|reason| **reason == FailureReason::WorkersStuck)
            .count(),
        4
    );
}

#[test]
fn cancellation_commits_the_batch_in_flight_and_the_next_run_resumes() {
    let dir = tempfile::tempdir().unwrap();
    for index in 0..40u8 {
        solid_png(
            &dir.path().join(format!("photo-{index:02}.png")),
            8,
            8,
            [index * 6, 100, 50],
        );
    }
    let cancel = no_cancel();
    let embedder = MeanColourEmbedder {
        cancel_after_first_batch: Some(Arc::clone(&cancel)),
        ..Default::default()
    };
    let config = PipelineConfig {
        batch_size: 1,
        commit_every: 1,
        ..test_config()
    };
    let mut sink = VecSink::default();

    let summary = index(
        dir.path(),
        Vec::new(),
        embedder,
        &mut sink,
        &config,
        &cancel,
    )
    .summary
    .unwrap();
    assert!(summary.interrupted);
    assert!(summary.added >= 1, "{summary:?}");
    // Bounded channels: only a handful of files can be in flight when Ctrl-C arrives.
    assert!(summary.not_attempted > 0, "{summary:?}");
    assert_eq!(summary.added + summary.not_attempted, 40, "{summary:?}");
    assert_eq!(
        sink.indexed().len() as u64,
        summary.added,
        "everything embedded was committed"
    );

    let known = sink.known_files();
    let found = crawl(&[dir.path().to_path_buf()], &CrawlOptions::default()).unwrap();
    assert_eq!(
        plan_changes(known.clone(), &found, &Blake3Hasher)
            .jobs
            .len() as u64,
        summary.not_attempted
    );
    let resumed = index(
        dir.path(),
        known,
        MeanColourEmbedder::default(),
        &mut sink,
        &config,
        &no_cancel(),
    )
    .summary
    .unwrap();
    assert_eq!(resumed.added, summary.not_attempted);
    assert_eq!(sink.indexed().len(), 40);
}

#[test]
fn cancelled_before_start_touches_nothing() {
    let dir = tempfile::tempdir().unwrap();
    for index in 0..3 {
        solid_png(&dir.path().join(format!("{index}.png")), 8, 8, [1, 2, 3]);
    }
    let mut sink = VecSink::default();
    let cancel = Arc::new(AtomicBool::new(true));
    let summary = index(
        dir.path(),
        Vec::new(),
        MeanColourEmbedder::default(),
        &mut sink,
        &test_config(),
        &cancel,
    )
    .summary
    .unwrap();
    assert_eq!((summary.added, summary.not_attempted), (0, 3));
    assert!(sink.commits.is_empty());
}

#[test]
fn an_image_the_model_rejects_costs_only_that_image() {
    let dir = tempfile::tempdir().unwrap();
    solid_png(&dir.path().join("red.png"), 8, 8, [250, 10, 10]);
    for index in 0..3 {
        solid_png(
            &dir.path().join(format!("cyan-{index}.png")),
            8,
            8,
            [10, 200, 200],
        );
    }
    let embedder = MeanColourEmbedder {
        reject_red_above: Some(0.9),
        ..Default::default()
    };
    let config = PipelineConfig {
        batch_timeout: Duration::from_secs(30),
        ..test_config()
    };
    let mut sink = VecSink::default();
    let summary = index_fresh(dir.path(), embedder, &mut sink, &config)
        .summary
        .unwrap();
    assert_eq!((summary.added, summary.failed), (3, 1), "{summary:?}");
    let failure = sink.failed()[0];
    assert_eq!(failure.path, canonical(dir.path(), "red.png"));
    assert!(matches!(failure.reason, FailureReason::Embed(_)));
}

#[test]
fn a_broken_model_stops_the_run_with_an_error() {
    let dir = tempfile::tempdir().unwrap();
    for index in 0..10 {
        solid_png(&dir.path().join(format!("{index}.png")), 8, 8, [10, 20, 30]);
    }
    std::fs::write(dir.path().join("bad.jpg"), b"definitely not a jpeg").unwrap();
    let embedder = MeanColourEmbedder {
        always_fail: true,
        ..Default::default()
    };
    let mut sink = VecSink::default();
    let error = index_fresh(dir.path(), embedder, &mut sink, &test_config())
        .summary
        .unwrap_err();
    assert!(matches!(error, IndexError::Embed { .. }), "{error}");
    assert!(sink.indexed().is_empty());
}

#[test]
fn a_catalog_refusing_commits_stops_the_run_with_an_error() {
    let dir = tempfile::tempdir().unwrap();
    for index in 0..20 {
        solid_png(&dir.path().join(format!("{index}.png")), 8, 8, [10, 20, 30]);
    }
    let mut sink = VecSink {
        refuse_after: Some(1),
        ..Default::default()
    };
    let config = PipelineConfig {
        commit_every: 1,
        batch_size: 1,
        ..test_config()
    };
    let error = index_fresh(
        dir.path(),
        MeanColourEmbedder::default(),
        &mut sink,
        &config,
    )
    .summary
    .unwrap_err();
    assert!(matches!(error, IndexError::Commit { .. }), "{error}");
    assert!(
        error.to_string().contains("refused commit number 1"),
        "{error}"
    );
    assert_eq!(sink.commits.len(), 1);
}

/// Slow commits are paced by their own cost (the pacing decision itself is unit-tested on given
/// durations in `pipeline::tests`); here, with `commit_every: 1` and commits of 40 ms, nothing is
/// lost or committed twice, whatever the machine's speed.
#[test]
fn slow_commits_gather_results_instead_of_taking_over() {
    let dir = tempfile::tempdir().unwrap();
    let files = 96;
    for index in 0..files {
        solid_png(&dir.path().join(format!("{index}.png")), 8, 8, [10, 20, 30]);
    }
    let config = PipelineConfig {
        commit_every: 1,
        batch_size: 8,
        ..test_config()
    };
    let mut runs = Vec::new();
    for commit_takes in [None, Some(Duration::from_millis(40))] {
        let mut sink = VecSink {
            commit_takes,
            ..Default::default()
        };
        index_fresh(
            dir.path(),
            MeanColourEmbedder::default(),
            &mut sink,
            &config,
        )
        .summary
        .unwrap();
        let mut paths: Vec<_> = sink.indexed().iter().map(|p| p.file.path.clone()).collect();
        paths.sort();
        paths.dedup();
        assert_eq!(paths.len(), files, "every file committed once");
        assert_eq!(sink.indexed().len(), files);
        runs.push(sink.commits.len());
    }
    // How many commits depends on how fast this machine produced results; only print it.
    println!("commits: quick {}, slow {}", runs[0], runs[1]);
    assert!(runs.iter().all(|&commits| (1..=files).contains(&commits)));
}

#[test]
fn a_panicking_decoder_costs_one_file() {
    let dir = tempfile::tempdir().unwrap();
    solid_png(&dir.path().join("blue.png"), 8, 8, [0, 0, 255]);
    solid_png(&dir.path().join("red.png"), 8, 8, [255, 0, 0]);
    let embedder = MeanColourEmbedder {
        panic_on_blue: true,
        ..Default::default()
    };
    let mut sink = VecSink::default();
    let summary = index_fresh(dir.path(), embedder, &mut sink, &test_config())
        .summary
        .unwrap();
    assert_eq!((summary.added, summary.failed), (1, 1), "{summary:?}");
    let failure = sink.failed()[0];
    assert_eq!(failure.path, canonical(dir.path(), "blue.png"));
    assert!(
        matches!(&failure.reason, FailureReason::Panicked(message) if message.contains("exploded"))
    );
}

#[test]
fn summary_serialises_for_json_output() {
    let summary = Summary {
        added: 3,
        failed: 1,
        images_per_second: 12.5,
        ..Summary::default()
    };
    let json = serde_json::to_value(&summary).unwrap();
    assert_eq!(json["added"], 3);
    assert_eq!(json["failed"], 1);
    assert_eq!(json["images_per_second"], 12.5);
    for key in [
        "updated",
        "moved",
        "deleted",
        "skipped",
        "unchanged",
        "interrupted",
    ] {
        assert!(json.get(key).is_some(), "missing {key}");
    }
}
