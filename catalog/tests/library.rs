//! Integration tests of the on-disk library: commits, readers, repair, bad state, migration,
//! concurrency and crash safety.

use std::collections::HashSet;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use magpie_catalog::{
    Change, ExifFields, Filters, ImageRecord, ModelIdentity, Reader, Writer, WriterOptions,
};
use rand::{Rng as _, SeedableRng as _};

const DIM: usize = 16;

fn model() -> ModelIdentity {
    ModelIdentity {
        name: "test".into(),
        checksum: "abc".into(),
        dim: DIM,
    }
}

fn vector(seed: u64) -> Vec<f32> {
    unit_vector(seed, DIM)
}

fn unit_vector(seed: u64, dim: usize) -> Vec<f32> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut v: Vec<f32> = (0..dim).map(|_| rng.random_range(-1.0..1.0)).collect();
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter_mut().for_each(|x| *x /= n);
    v
}

fn record(id: u64, name: &str) -> ImageRecord {
    ImageRecord {
        id,
        path: PathBuf::from(format!("/photos/{name}")),
        size: 1000 + id,
        mtime_ns: 1_600_000_000_000_000_000 + id as i64,
        content_hash: format!("{:064x}", id),
        width: 640,
        height: 480,
        format: "jpeg".into(),
        exif: ExifFields {
            make: Some("Canon".into()),
            model: Some("EOS 5D".into()),
            ..Default::default()
        },
        tags: vec![],
        indexed_at: 0,
        text: None,
    }
}

/// Commits `count` new images named `<id>.jpg` in one commit, each embedded as `embedding(id)`;
/// returns their ids.
fn commit_new(w: &mut Writer, count: usize, embedding: impl Fn(u64) -> Vec<f32>) -> Vec<u64> {
    let ids: Vec<u64> = (0..count).map(|_| w.allocate_id()).collect();
    let changes = ids
        .iter()
        .map(|&id| Change::Upsert {
            record: record(id, &format!("{id}.jpg")),
            embedding: embedding(id),
        })
        .collect();
    w.commit(changes).unwrap();
    ids
}

fn upsert(w: &mut Writer, name: &str) -> u64 {
    let id = w.allocate_id();
    w.commit(vec![Change::Upsert {
        record: record(id, name),
        embedding: vector(id),
    }])
    .unwrap();
    id
}

#[test]
fn commit_then_read_from_every_store() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = Writer::open(dir.path(), &model(), &WriterOptions::default()).unwrap();
    let a = upsert(&mut w, "IMG_2041.jpg");
    let b = upsert(&mut w, "lisbon/tram.jpg");
    let r = Reader::open(dir.path()).unwrap();
    let s = r.snapshot();
    assert_eq!(s.len(), 2);
    assert_eq!(s.get(a).unwrap().file_name(), "IMG_2041.jpg");
    let hits = s.vector_search(&vector(b), 2, None).unwrap();
    assert_eq!(hits[0].0, b);
    assert!(hits[0].1 > 0.99);
    let kw = s
        .keyword_search("IMG_2041", &Filters::default(), 10)
        .unwrap();
    assert_eq!(kw.first().map(|h| h.0), Some(a));
    let folder = Filters {
        folder_prefix: Some("/photos/lisbon".into()),
        ..Default::default()
    };
    assert_eq!(s.filter_ids(&folder).unwrap(), HashSet::from([b]));
    assert!(w.verify().unwrap().ok);

    // Delete: gone from every store, and a reader picks it up without reopening.
    w.commit(vec![Change::Remove(a)]).unwrap();
    r.refresh().unwrap();
    let s = r.snapshot();
    assert_eq!(s.len(), 1);
    assert!(s.get(a).is_none());
    assert!(s
        .vector_search(&vector(a), 5, None)
        .unwrap()
        .iter()
        .all(|h| h.0 != a));
    assert!(w.verify().unwrap().ok);
}

#[test]
fn another_model_is_refused_and_second_writer_names_the_holder() {
    let dir = tempfile::tempdir().unwrap();
    let w = Writer::open(dir.path(), &model(), &WriterOptions::default()).unwrap();
    let err = Writer::open(dir.path(), &model(), &WriterOptions::default())
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("being written by another process") && err.contains("pid"),
        "{err}"
    );
    drop(w);
    let other = ModelIdentity {
        name: "other".into(),
        checksum: "zzz".into(),
        dim: 32,
    };
    let err = Writer::open(dir.path(), &other, &WriterOptions::default())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("was built with model test"), "{err}");
}

#[test]
fn damaged_derived_stores_are_clear_errors_for_readers_and_repaired_by_the_writer() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut w = Writer::open(dir.path(), &model(), &WriterOptions::default()).unwrap();
        for i in 0..20 {
            upsert(&mut w, &format!("{i}.jpg"));
        }
    }
    // Truncate the usearch file.
    let sidecar: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("vectors.json")).unwrap()).unwrap();
    let file = dir.path().join(sidecar["file"].as_str().unwrap());
    let len = std::fs::metadata(&file).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&file)
        .unwrap()
        .set_len(len / 3)
        .unwrap();
    let err = Reader::open(dir.path())
        .err()
        .expect("truncated index must not open")
        .to_string();
    assert!(
        err.contains("vector index") && err.contains(".usearch"),
        "{err}"
    );
    // Remove the tantivy directory.
    std::fs::remove_dir_all(dir.path().join("text")).unwrap();
    let err = Reader::open(dir.path()).err().unwrap().to_string();
    assert!(
        err.contains("keyword index") && err.contains("missing"),
        "{err}"
    );
    // The writer rebuilds both from sled.
    let w = Writer::open(dir.path(), &model(), &WriterOptions::default()).unwrap();
    let report = w.verify().unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.records, 20);
    drop(w);
    assert_eq!(Reader::open(dir.path()).unwrap().snapshot().len(), 20);
}

#[test]
fn newer_library_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(Writer::open(dir.path(), &model(), &WriterOptions::default()).unwrap());
    std::fs::write(dir.path().join("FORMAT"), "99\n").unwrap();
    let err = Writer::open(dir.path(), &model(), &WriterOptions::default())
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("format version 99") && err.contains("upgrade Magpie"),
        "{err}"
    );
    let err = Reader::open(dir.path()).err().unwrap().to_string();
    assert!(err.contains("upgrade Magpie"), "{err}");
}

#[test]
fn version_1_library_is_upgraded_on_open() {
    use magpie_migrations::v1;
    let dir = tempfile::tempdir().unwrap();
    {
        let db = sled::open(dir.path().join("db")).unwrap();
        for id in 1u64..=30 {
            let r = record(id, &format!("old/{id}.jpg"));
            db.insert(
                [v1::RECORD, &id.to_be_bytes()].concat(),
                serde_json::to_vec(&r).unwrap(),
            )
            .unwrap();
            let emb: Vec<u8> = vector(id).iter().flat_map(|f| f.to_le_bytes()).collect();
            db.insert([v1::EMBEDDING, &id.to_be_bytes()].concat(), emb)
                .unwrap();
        }
        db.insert(v1::MODEL, serde_json::to_vec(&model()).unwrap())
            .unwrap();
        db.flush().unwrap();
    }
    magpie_migrations::write_version(dir.path(), 1).unwrap();
    let mut w = Writer::open(dir.path(), &model(), &WriterOptions::default()).unwrap();
    assert_eq!(
        magpie_migrations::read_version(dir.path()).unwrap(),
        Some(magpie_migrations::CURRENT_VERSION)
    );
    let report = w.verify().unwrap();
    assert!(report.ok && report.records == 30, "{report:?}");
    let new = upsert(&mut w, "new.jpg");
    assert_eq!(new, 31, "ids continue after the migrated ones");
    let s = Reader::open(dir.path()).unwrap().snapshot();
    assert_eq!(s.vector_search(&vector(7), 1, None).unwrap()[0].0, 7);
}

/// A reader searching in a loop while the writer commits 10,000 records never errors and never
/// sees an image in one store but not the other.
#[test]
fn readers_during_writes_see_consistent_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = Writer::open(dir.path(), &model(), &WriterOptions::default()).unwrap();
    upsert(&mut w, "first.jpg");
    let path = dir.path().to_path_buf();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // How many consistent checks the reader has made; the writer waits for a new one after each
    // commit, so reads really interleave with writes however the machine schedules threads.
    let checks_made = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let reader_stop = stop.clone();
    let reader_checks = checks_made.clone();
    let reader = std::thread::spawn(move || {
        let r = Reader::open(&path).unwrap();
        let mut last_generation = 0;
        let mut generations_seen = HashSet::new();
        while !reader_stop.load(std::sync::atomic::Ordering::Relaxed) {
            let generation = r.refresh().unwrap();
            assert!(generation >= last_generation);
            last_generation = generation;
            generations_seen.insert(generation);
            let s = r.snapshot();
            let n = s.len();
            assert_eq!(
                n as usize,
                s.vectors_len(),
                "generation {}: keyword and vector counts differ",
                s.generation
            );
            let checks = reader_checks.load(std::sync::atomic::Ordering::SeqCst);
            for (id, _) in s.vector_search(&vector(checks), 10, None).unwrap() {
                assert!(
                    s.get(id).is_some(),
                    "vector hit {id} has no record in the same snapshot"
                );
            }
            reader_checks.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        (generations_seen.len(), last_generation)
    });
    for batch in 0..40 {
        let changes = (0..250)
            .map(|i| {
                let id = w.allocate_id();
                Change::Upsert {
                    record: record(id, &format!("b{batch}/{i}.jpg")),
                    embedding: vector(id),
                }
            })
            .collect();
        w.commit(changes).unwrap();
        let before = checks_made.load(std::sync::atomic::Ordering::SeqCst);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while checks_made.load(std::sync::atomic::Ordering::SeqCst) < before + 2 {
            assert!(
                !reader.is_finished() && std::time::Instant::now() < deadline,
                "the reader stopped checking (it failed, or hung for a minute)"
            );
            std::thread::yield_now();
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (generations, last) = reader.join().unwrap();
    assert_eq!(w.stats().unwrap().images, 10_001);
    assert_eq!(Reader::open(dir.path()).unwrap().snapshot().len(), 10_001);
    assert!(w.verify().unwrap().ok);
    let checks = checks_made.load(std::sync::atomic::Ordering::SeqCst);
    println!("reader made {checks} consistent checks over {generations} generations, last {last}");
    // Each commit was followed by a full check that started after it, so the reader saw the
    // commits happen: many generations, up to the last.
    assert!(checks >= 80, "{checks}");
    assert!(generations >= 20, "only {generations} generations seen");
    assert_eq!(last, w.generation());
}

fn crash_kills() -> usize {
    if std::env::var_os("MAGPIE_LONG_TESTS").is_some() {
        100
    } else {
        20
    }
}

/// Child side of the crash test: commits batches forever, printing each committed generation
/// and the ids it contained. Only runs when the parent sets MAGPIE_CRASH_CHILD.
#[test]
#[ignore = "child process of crash_at_random_points_loses_nothing"]
fn crash_child() {
    let dir = std::env::var_os("MAGPIE_CRASH_CHILD")
        .expect("only crash_at_random_points_loses_nothing runs this, with MAGPIE_CRASH_CHILD set");
    let mut w = Writer::open(Path::new(&dir), &model(), &WriterOptions::default()).unwrap();
    let mut seq = 0u64;
    loop {
        let mut ids = Vec::new();
        let mut changes = Vec::new();
        for _ in 0..25 {
            let id = w.allocate_id();
            ids.push(id);
            changes.push(Change::Upsert {
                record: record(id, &format!("c/{id}.jpg")),
                embedding: vector(id),
            });
        }
        // Every few batches also delete an older image, so deletions are crash-tested too.
        let mut removed = 0;
        if seq % 3 == 2 && ids[0] > 30 && w.record(ids[0] - 30).unwrap().is_some() {
            removed = ids[0] - 30;
            changes.push(Change::Remove(removed));
        }
        let generation = w.commit(changes).unwrap();
        let list = ids
            .iter()
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(",");
        println!("committed {generation} {list} {removed}");
        seq += 1;
    }
}

#[test]
fn crash_at_random_points_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut committed: HashSet<u64> = HashSet::new();
    let mut removed: HashSet<u64> = HashSet::new();
    let mut batches: Vec<Vec<u64>> = Vec::new();
    let mut kills = 0;
    for _ in 0..crash_kills() {
        let mut child = magpie_testkit::ChildGuard::spawn(
            Command::new(&exe)
                .args([
                    "--exact",
                    "crash_child",
                    "--ignored",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env("MAGPIE_CRASH_CHILD", dir.path())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped()),
        );
        // The child's stderr is kept to explain a child that dies before it commits.
        let mut child_stderr = child.child().stderr.take().unwrap();
        let stderr_reader = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut child_stderr, &mut text);
            text
        });
        let stdout = BufReader::new(child.child().stdout.take().unwrap());
        let stop_after = rng.random_range(1..6);
        let mut seen = 0;
        for line in stdout.lines() {
            let line = line.unwrap();
            if let Some(rest) = line.strip_prefix("committed ") {
                let parts: Vec<&str> = rest.split(' ').collect();
                let ids: Vec<u64> = parts[1].split(',').map(|i| i.parse().unwrap()).collect();
                batches.push(ids.clone());
                committed.extend(ids);
                let removed_id: u64 = parts[2].parse().unwrap();
                if removed_id > 0 {
                    removed.insert(removed_id);
                }
                seen += 1;
                if seen >= stop_after {
                    // Let it get somewhere into the next commit, then kill it without warning.
                    std::thread::sleep(std::time::Duration::from_millis(rng.random_range(0..40)));
                    break;
                }
            }
        }
        let still_running = child.child().try_wait().unwrap().is_none();
        let mut child = child.into_inner();
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let child_stderr = stderr_reader.join().unwrap();
        // A kill only tests something when it interrupted a child that had committed and was
        // still writing.
        assert!(
            seen >= stop_after && still_running,
            "kill {}: the child committed {seen} of {stop_after} batches and {}; its stderr:\n{child_stderr}",
            kills + 1,
            if still_running { "was running" } else { "had already exited" }
        );
        kills += 1;

        let w = Writer::open(dir.path(), &model(), &WriterOptions::default()).unwrap();
        let report = w.verify().unwrap();
        assert!(report.ok, "after kill {kills}: {report:?}");
        let present: Vec<u64> = w.records().map(|r| r.unwrap().id).collect();
        let unique: HashSet<u64> = present.iter().copied().collect();
        assert_eq!(unique.len(), present.len(), "an image is present twice");
        // A commit can become durable after the parent stopped reading, so some visible images
        // may be unreported; they must form whole batches (ids are allocated 25 per batch,
        // aligned, and an unfinished batch's ids are reused).
        let batch_start = |id: u64| (id - 1) / 25 * 25 + 1;
        let unreported_starts: HashSet<u64> = unique
            .iter()
            .filter(|id| !committed.contains(id))
            .map(|id| batch_start(*id))
            .collect();
        for id in &unique {
            let start = batch_start(*id);
            for other in start..start + 25 {
                let gone = removed.contains(&other) || unreported_starts.contains(&(other + 30));
                assert!(
                    unique.contains(&other) || gone,
                    "batch {start}..{} is partially visible (missing {other})",
                    start + 25
                );
            }
        }
        // Every committed image is present unless a committed batch deleted it.
        for id in &committed {
            let gone = removed.contains(id) || unreported_starts.contains(&(id + 30));
            assert!(
                unique.contains(id) || gone,
                "committed image {id} lost after kill {kills}"
            );
        }
    }
    let w = Writer::open(dir.path(), &model(), &WriterOptions::default()).unwrap();
    let records = w.records().count();
    println!(
        "crash test: {kills} SIGKILLs, {} committed images tracked, {records} records checked",
        committed.len()
    );
    assert_eq!(kills, crash_kills());
}

/// A reader serves many searches at once (a web server's worker threads), more than cores.
#[test]
fn many_concurrent_searches_on_one_reader() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = Writer::open(dir.path(), &model(), &WriterOptions::default()).unwrap();
    commit_new(&mut w, 300, vector);
    let reader = std::sync::Arc::new(Reader::open(dir.path()).unwrap());
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(32));
    let threads: Vec<_> = (0..32u64)
        .map(|t| {
            let (reader, barrier) = (reader.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let snapshot = reader.snapshot();
                for q in 0..50 {
                    let hits = snapshot
                        .vector_search(&vector(t * 100 + q), 10, None)
                        .unwrap();
                    assert_eq!(hits.len(), 10);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("a search failed");
    }
}

/// A large commit (inserted on all cores) and a rebuild from sled both give an index in which
/// every image is its own nearest neighbour.
#[test]
fn large_commits_and_rebuilds_index_every_vector() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = Writer::open(dir.path(), &model(), &WriterOptions::default()).unwrap();
    let ids = commit_new(&mut w, 3000, vector);
    let check = |w: &Writer| {
        let report = w.verify().unwrap();
        assert!(report.ok && report.vectors == 3000, "{report:?}");
        let snapshot = Reader::open(dir.path()).unwrap().snapshot();
        for &id in &ids {
            let best = snapshot.vector_search(&vector(id), 1, None).unwrap();
            assert_eq!(best[0].0, id, "image {id} is not its own nearest neighbour");
        }
    };
    check(&w);
    w.rebuild().unwrap();
    check(&w);
}

/// An i8 library ranks like exact cosine on CLIP-sized vectors: each vector is quantized to its
/// own range (usearch's cast, ×127/‖v‖, left unit 512-d vectors on a few levels near zero).
#[test]
fn i8_library_ranks_like_exact_cosine() {
    const WIDE: usize = 512;
    let unit = |seed: u64| unit_vector(seed, WIDE);
    let dir = tempfile::tempdir().unwrap();
    let options = WriterOptions {
        quantization: magpie_catalog::Quantization::I8,
    };
    let identity = ModelIdentity {
        dim: WIDE,
        ..model()
    };
    let mut w = Writer::open(dir.path(), &identity, &options).unwrap();
    let ids = commit_new(&mut w, 2000, unit);
    let snapshot = Reader::open(dir.path()).unwrap().snapshot();
    let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
    let mut found = 0;
    let queries = 50;
    for q in 0..queries {
        let query = unit(1_000_000 + q);
        let mut exact: Vec<(u64, f32)> =
            ids.iter().map(|&id| (id, dot(&query, &unit(id)))).collect();
        exact.sort_by(|a, b| b.1.total_cmp(&a.1));
        let truth: HashSet<u64> = exact[..10].iter().map(|(id, _)| *id).collect();
        let hits = snapshot.vector_search(&query, 10, None).unwrap();
        found += hits.iter().filter(|(id, _)| truth.contains(id)).count();
        // The stored vector comes back unit length and close to the original.
        let back = snapshot.embedding(ids[q as usize]).unwrap();
        assert!((dot(&back, &back) - 1.0).abs() < 1e-3);
        assert!(dot(&back, &unit(ids[q as usize])) > 0.999);
    }
    let recall = found as f64 / (10 * queries) as f64;
    println!("i8 recall@10 vs exact cosine, 2000 random unit 512-d vectors: {recall:.3}");
    assert!(recall >= 0.9, "i8 recall@10 {recall}");
}

/// A pass over every record sees each live record once, and leaves none of the document store
/// resident in this process (a server makes one such pass per generation for its facets).
#[test]
fn a_pass_over_every_record_leaves_the_store_unmapped() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = Writer::open(dir.path(), &model(), &WriterOptions::default()).unwrap();
    let ids = commit_new(&mut w, 2000, vector);
    w.commit(vec![Change::Remove(ids[0])]).unwrap();
    let snapshot = Reader::open(dir.path()).unwrap().snapshot();
    let mut seen = HashSet::new();
    snapshot.for_each_record(|r| assert!(seen.insert(r.id), "{} twice", r.id));
    assert_eq!(seen.len(), 1999);
    assert!(!seen.contains(&ids[0]));
    if cfg!(target_os = "linux") {
        // Rss of every mapping of a `.store` file of this library, from /proc/self/smaps.
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let text_dir = dir.path().join("text");
        let mut in_store = false;
        let mut mappings = 0;
        for line in smaps.lines() {
            if line.contains('-') && line.split_whitespace().count() >= 5 {
                let path = line.split_whitespace().nth(5).unwrap_or("");
                in_store = path.starts_with(text_dir.to_str().unwrap()) && path.ends_with(".store");
                mappings += usize::from(in_store);
            } else if in_store && line.starts_with("Rss:") {
                assert_eq!(line.split_whitespace().nth(1), Some("0"), "{line}");
            }
        }
        assert!(mappings > 0, "the store is mapped while the snapshot lives");
    }
}
