//! Query latency, ANN recall, resident memory and disk size of a library padded with random unit
//! vectors, using the library crates in-process (no HTTP).
//!
//! ```text
//! querybench build  --library DIR --model DIR --sizes 10000,100000,1000000 [--quantization f16|i8]
//!                   [--batch 100000] [--seed 1]
//! querybench query  --library DIR --model DIR [--distinct 100] [--repeats 3]
//! querybench recall --library DIR [--queries 100] [--k 10] [--threads N]
//! querybench text   --model DIR [--distinct 100]
//! querybench milvus --library DIR --milvus http://HOST:PORT [--collection C] [--queries 200]
//!                   [--k 10] [--batch 2000]
//! ```
//!
//! - `build` commits records with embeddings through `magpie_catalog::Writer` in large batches
//!   (each commit rewrites the HNSW file, so small commits would make a 1 M build quadratic) and
//!   prints, at each size, the bytes on disk per store. The vectors are regenerated from
//!   `(seed, id)` by [`magpie_bench::unit_vector`], recorded in `bench-data.json` in the library.
//! - `query` opens the library as `magpie search` / `magpie serve` do
//!   (`magpie_searcher::LibrarySearch`), runs distinct text queries (text encoding included:
//!   ≤ 4 words go through the 8-prompt ensemble, longer ones are encoded once), then the same
//!   queries again (text-embedding cache hits), and reports p50/p99 and VmRSS/VmHWM.
//! - `recall` compares HNSW top-k (`Snapshot::vector_search`) with an exact scan over the same
//!   vectors (regenerated, f32), for random unit queries, and times the bare vector search.
//! - `text` times the text encoding of `query`'s distinct queries (the prompt ensemble for short
//!   ones, as the searcher sends it: one batch) with the padding trimmed, as Magpie runs, then at
//!   the full 77 tokens, and checks both give the same embeddings.
//!
//! - `milvus` loads the same records and vectors (regenerated) into a Milvus collection through
//!   Magpie's Milvus client and fields (`magpie_milvus`), timing the load (vectors/s), then times
//!   the same random unit queries against the local library (`Snapshot::vector_search`) and
//!   Milvus (HNSW, cosine), one after the other, with each one's recall@k against the other.
//!
//! Each prints one JSON object on stdout.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use magpie_bench::{dir_size, memory, start_runtime, unit_vector, Args, SplitMix64, Stats};
use magpie_catalog::{
    Change, ExifFields, ImageRecord, ModelIdentity, Quantization, Reader, Writer, WriterOptions,
};
use magpie_models::{ModelSpec, SessionConfig, TextEncoder};
use magpie_searcher::{LibrarySearch, PromptEnsemble, SearchRequest, SearcherConfig};
use serde::{Deserialize, Serialize};
use serde_json::json;

const DATA_FILE: &str = "bench-data.json";

/// How the padding vectors were made (so `recall` and `milvus` can regenerate them).
#[derive(Debug, Serialize, Deserialize)]
struct DataSpec {
    seed: u64,
    dim: usize,
    count: u64,
    first_id: u64,
    /// 0 = uniform on the sphere; else vectors scattered around this many random centres.
    #[serde(default)]
    clusters: u64,
    /// Noise relative to the centre (clustered data only).
    #[serde(default)]
    spread: f32,
}

impl DataSpec {
    /// The spec `querybench build` left in `library`.
    fn load(library: &Path) -> Self {
        serde_json::from_slice(
            &std::fs::read(library.join(DATA_FILE))
                .expect("bench-data.json (made by `querybench build`)"),
        )
        .expect("bench-data.json")
    }
}

/// The vector of image `id`: uniform, or `normalise(centre(id mod clusters) + spread · noise)`,
/// a crude stand-in for CLIP embeddings, which are strongly clustered.
fn data_vector(seed: u64, clusters: u64, spread: f32, id: u64, dim: usize) -> Vec<f32> {
    let noise = unit_vector(seed, id, dim);
    if clusters == 0 {
        return noise;
    }
    let centre = unit_vector(seed ^ 0xC1A5_7E25, id % clusters, dim);
    let mut v: Vec<f32> = centre
        .iter()
        .zip(&noise)
        .map(|(c, n)| c + spread * n)
        .collect();
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter_mut().for_each(|x| *x /= norm);
    v
}

fn main() {
    let args = Args::from_env();
    match args.positional().first().map(String::as_str) {
        Some("build") => build(&args),
        Some("query") => query(&args),
        Some("recall") => recall(&args),
        Some("text") => text(&args),
        Some("milvus") => milvus(&args),
        _ => {
            eprintln!(
                "usage: querybench build|query|recall|text|milvus --library DIR ... (see the module docs)"
            );
            std::process::exit(2);
        }
    }
}

const PLACES: [&str; 12] = [
    "lisbon", "porto", "alps", "beach", "garden", "kyoto", "berlin", "farm", "lake", "desert",
    "harbour", "forest",
];
const CAMERAS: [(&str, &str); 4] = [
    ("Canon", "EOS 5D Mark IV"),
    ("NIKON CORPORATION", "NIKON D750"),
    ("Apple", "iPhone 13"),
    ("FUJIFILM", "X-T3"),
];

fn padding_record(id: u64, rng: &mut SplitMix64) -> ImageRecord {
    let year = 2005 + rng.next_u64() % 20;
    let place = PLACES[(rng.next_u64() % PLACES.len() as u64) as usize];
    let (make, model) = CAMERAS[(rng.next_u64() % CAMERAS.len() as u64) as usize];
    let taken_at = ((year - 1970) * 365 * 86_400 + rng.next_u64() % (365 * 86_400)) as i64;
    ImageRecord {
        id,
        path: PathBuf::from(format!("/photos/{year}/{place}/IMG_{id:07}.jpg")),
        size: 2_000_000 + rng.next_u64() % 6_000_000,
        mtime_ns: taken_at * 1_000_000_000,
        content_hash: blake3::hash(&id.to_le_bytes()).to_hex().to_string(),
        width: 4032,
        height: 3024,
        format: "jpeg".into(),
        exif: ExifFields {
            taken_at: Some(taken_at),
            make: Some(make.into()),
            model: Some(model.into()),
            lens: None,
            gps: None,
            orientation: Some(1),
        },
        tags: Vec::new(),
        indexed_at: taken_at,
        text: None,
    }
}

/// The current vectors file (the writer keeps the previous generation's too, for readers).
fn current_vectors_file(library: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(library.join("vectors.json")).ok()?;
    let sidecar: serde_json::Value = serde_json::from_str(&text).ok()?;
    Some(library.join(sidecar["file"].as_str()?))
}

fn disk_report(library: &Path, images: u64) -> serde_json::Value {
    let total = dir_size(library);
    let database = dir_size(&library.join("db"));
    let keywords = dir_size(&library.join("text"));
    let vectors = current_vectors_file(library)
        .and_then(|f| std::fs::metadata(f).ok())
        .map_or(0, |m| m.len());
    let all_vector_files: u64 = std::fs::read_dir(library)
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().ends_with(".usearch"))
                .map(|e| e.metadata().map_or(0, |m| m.len()))
                .sum()
        })
        .unwrap_or(0);
    let per = |bytes: u64| bytes as f64 / images.max(1) as f64;
    json!({
        "images": images,
        "bytes_total": total,
        "bytes_database_sled": database,
        "bytes_keywords_tantivy": keywords,
        "bytes_vectors_current_usearch": vectors,
        "bytes_vectors_all_usearch_files": all_vector_files,
        "bytes_per_image_total": per(total),
        "bytes_per_image_excluding_previous_vectors_file": per(total - (all_vector_files - vectors)),
        "bytes_per_image_database": per(database),
        "bytes_per_image_keywords": per(keywords),
        "bytes_per_image_vectors": per(vectors),
    })
}

fn build(args: &Args) {
    let library = PathBuf::from(args.require("library"));
    let model_dir = PathBuf::from(args.require("model"));
    let sizes: Vec<u64> = args
        .require("sizes")
        .split(',')
        .map(|s| s.trim().parse().expect("--sizes: numbers"))
        .collect();
    let quantization: Quantization = args
        .get("quantization")
        .unwrap_or("f16")
        .parse()
        .expect("--quantization");
    let batch: u64 = args.number("batch", 100_000);
    let seed: u64 = args.number("seed", 1);
    let dim: usize = args.number("dim", 512);
    let clusters: u64 = args.number("clusters", 0);
    let spread: f32 = args.number("spread", 1.0);
    if library.exists() && std::fs::read_dir(&library).is_ok_and(|mut d| d.next().is_some()) {
        eprintln!(
            "{} exists and is not empty; give a fresh folder",
            library.display()
        );
        std::process::exit(2);
    }
    let spec = ModelSpec::load(&model_dir).unwrap_or_else(|e| panic!("model: {e}"));
    let identity = ModelIdentity {
        name: spec.name.clone(),
        checksum: magpie_models::identity::weights_checksum(&spec).expect("model checksum"),
        dim,
    };
    let mut writer =
        Writer::open(&library, &identity, &WriterOptions { quantization }).expect("open library");
    let started = Instant::now();
    let mut count = 0u64;
    let mut first_id = None;
    let mut rng = SplitMix64::new(seed.wrapping_add(0x5EED));
    let mut commits = Vec::new();
    let mut sizes_report = Vec::new();
    for &target in &sizes {
        while count < target {
            let n = batch.min(target - count);
            let made = Instant::now();
            let mut changes = Vec::with_capacity(n as usize);
            for _ in 0..n {
                let id = writer.allocate_id();
                first_id.get_or_insert(id);
                changes.push(Change::Upsert {
                    record: padding_record(id, &mut rng),
                    embedding: data_vector(seed, clusters, spread, id, dim),
                });
            }
            let generated = made.elapsed();
            let commit = Instant::now();
            writer.commit(changes).expect("commit");
            count += n;
            let seconds = commit.elapsed().as_secs_f64();
            eprintln!(
                "build: {count} images (commit of {n}: {seconds:.1} s, +{:.1} s generating)",
                generated.as_secs_f64()
            );
            commits.push(json!({"images": n, "commit_seconds": seconds, "generate_seconds": generated.as_secs_f64()}));
        }
        writer.flush().expect("flush");
        let spec_file = DataSpec {
            seed,
            dim,
            count,
            first_id: first_id.unwrap_or(1),
            clusters,
            spread,
        };
        std::fs::write(
            library.join(DATA_FILE),
            serde_json::to_vec_pretty(&spec_file).expect("json"),
        )
        .expect("write bench-data.json");
        let mut report = disk_report(&library, count);
        report["elapsed_seconds"] = json!(started.elapsed().as_secs_f64());
        eprintln!("build: at {count}: {report}");
        sizes_report.push(report);
    }
    let report = json!({
        "bench": "build",
        "library": library,
        "quantization": quantization,
        "dim": dim,
        "batch": batch,
        "seconds": started.elapsed().as_secs_f64(),
        "commits": commits,
        "sizes": sizes_report,
    });
    println!("{}", serde_json::to_string_pretty(&report).expect("json"));
}

/// Distinct query texts: short ones (prompt ensemble) and long ones (encoded as written).
fn query_texts(count: usize) -> (Vec<String>, Vec<String>) {
    const SUBJECTS: [&str; 10] = [
        "dog",
        "kids",
        "old tram",
        "red bicycle",
        "birthday cake",
        "cat",
        "mountain",
        "sailboat",
        "grandmother",
        "fireworks",
    ];
    const PLACES: [&str; 10] = [
        "beach",
        "snow",
        "city street",
        "kitchen",
        "forest",
        "harbour",
        "garden",
        "desert",
        "market",
        "lake",
    ];
    const TIMES: [&str; 5] = [
        "at sunset",
        "at night",
        "in the rain",
        "in the morning",
        "in summer",
    ];
    let mut short = Vec::new();
    let mut long = Vec::new();
    'outer: for subject in SUBJECTS {
        for place in PLACES {
            if short.len() < count / 2 {
                short.push(format!("{subject} {place}"));
            }
            for time in TIMES {
                if long.len() >= count - count / 2 {
                    if short.len() >= count / 2 {
                        break 'outer;
                    }
                    break;
                }
                long.push(format!("a {subject} in the {place} {time}"));
            }
        }
    }
    // Interleave the long list so it does not walk one subject at a time.
    long.sort_by_key(|q| blake3::hash(q.as_bytes()).as_bytes()[0]);
    (short, long)
}

fn query(args: &Args) {
    let library = PathBuf::from(args.require("library"));
    let model_dir = PathBuf::from(args.require("model"));
    let distinct: usize = args.number("distinct", 100);
    let repeats: usize = args.number("repeats", 3);
    // The text-embedding cache on disk would turn a second run's "distinct" queries into hits.
    if !args.flag("keep-cache") {
        let _ = std::fs::remove_dir_all(library.join("cache"));
    }
    start_runtime();
    let before_open = memory::resident();
    let spec = ModelSpec::load(&model_dir).unwrap_or_else(|e| panic!("model: {e}"));
    let opened = Instant::now();
    let search = LibrarySearch::open(
        &library,
        &spec,
        &SessionConfig::default(),
        SearcherConfig::default(),
    )
    .unwrap_or_else(|e| panic!("open library: {e}"));
    let open_seconds = opened.elapsed().as_secs_f64();
    let images = search.reader().snapshot().len();
    let breadth = search.reader().stats().expect("library stats");
    let after_open = memory::resident();

    let run = |text: &str| -> (Duration, usize) {
        let started = Instant::now();
        let response = search
            .search(&SearchRequest::text(text))
            .unwrap_or_else(|e| panic!("search {text:?}: {e}"));
        (started.elapsed(), response.hits.len())
    };
    let (warm_up, _) = run("warm up the sessions");
    let (short, long) = query_texts(distinct);
    let mut short_times = Vec::new();
    let mut long_times = Vec::new();
    let mut hits = 0;
    for (s, l) in short.iter().zip(long.iter()) {
        let (t, h) = run(s);
        short_times.push(t);
        hits += h;
        let (t, h) = run(l);
        long_times.push(t);
        hits += h;
    }
    let after_distinct = memory::resident();
    let mut cached_times = Vec::new();
    for _ in 0..repeats {
        for text in short.iter().chain(long.iter()) {
            cached_times.push(run(text).0);
        }
    }
    let after_cached = memory::resident();
    let all_distinct: Vec<Duration> = short_times
        .iter()
        .chain(long_times.iter())
        .copied()
        .collect();
    let per_image = |bytes: u64| bytes as f64 / images.max(1) as f64;
    let report = json!({
        "bench": "query",
        "library": library,
        "images": images,
        "expansion_search": breadth.expansion_search,
        "search_tuning": breadth.search_tuning,
        "open_seconds": open_seconds,
        "warm_up_ms": warm_up.as_secs_f64() * 1e3,
        "mean_hits_per_query": hits as f64 / all_distinct.len().max(1) as f64,
        "distinct_all": Stats::of(&all_distinct),
        "distinct_short_ensemble": Stats::of(&short_times),
        "distinct_long_single": Stats::of(&long_times),
        "cached_repeats": Stats::of(&cached_times),
        "examples": {"short": short.first(), "long": long.first()},
        "memory": {
            "before_open": before_open,
            "after_open": after_open,
            "after_distinct": after_distinct,
            "after_cached": after_cached,
            "rss_per_image_after_queries": per_image(after_cached.vm_rss),
            "hwm_per_image": per_image(after_cached.vm_hwm),
        },
    });
    println!("{}", serde_json::to_string_pretty(&report).expect("json"));
}

fn text(args: &Args) {
    let model_dir = PathBuf::from(args.require("model"));
    let distinct: usize = args.number("distinct", 100);
    start_runtime();
    let spec = ModelSpec::load(&model_dir).unwrap_or_else(|e| panic!("model: {e}"));
    let open = || {
        TextEncoder::open(&spec, &SessionConfig::default())
            .unwrap_or_else(|e| panic!("text tower: {e}"))
    };
    let trimmed = open();
    let trims_padding = trimmed.trims_padding();
    let mut full = open();
    full.disable_padding_trim();
    let ensemble = PromptEnsemble::default();
    let (short, long) = query_texts(distinct);
    let batches: Vec<Vec<String>> = short
        .iter()
        .zip(&long)
        .flat_map(|(s, l)| [s, l])
        .map(|q| {
            if PromptEnsemble::applies_to(q) {
                ensemble.expand(q)
            } else {
                vec![q.clone()]
            }
        })
        .collect();
    let time = |encoder: &TextEncoder, texts: &[&str]| {
        let started = Instant::now();
        let rows = encoder
            .embed_texts(texts)
            .unwrap_or_else(|e| panic!("embed: {e}"));
        (started.elapsed(), rows)
    };
    // One encoder after the other, not interleaved: ONNX Runtime's idle worker threads spin for
    // a while after each run and would slow the other session down.
    let run_all = |encoder: &TextEncoder| {
        time(encoder, &["warm up"]);
        let (mut short, mut long, mut rows) = (Vec::new(), Vec::new(), Vec::new());
        for texts in &batches {
            let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
            let (t, embeddings) = time(encoder, &texts);
            if texts.len() > 1 {
                &mut short
            } else {
                &mut long
            }
            .push(t);
            rows.extend(embeddings);
        }
        (short, long, rows)
    };
    let (trimmed_short, trimmed_long, ours) = run_all(&trimmed);
    drop(trimmed);
    let (full_short, full_long, reference) = run_all(&full);
    let worst_difference = ours
        .iter()
        .flatten()
        .zip(reference.iter().flatten())
        .fold(0f32, |worst, (a, b)| worst.max((a - b).abs()));
    let ratio = |full: &[Duration], trimmed: &[Duration]| {
        Stats::of(full).p50_ms / Stats::of(trimmed).p50_ms
    };
    let report = json!({
        "bench": "text",
        "model": model_dir,
        "trims_padding": trims_padding,
        "short_ensemble_batches": short.len(),
        "prompts_per_short_query": ensemble.templates.len(),
        "long_single_texts": long.len(),
        "trimmed_short": Stats::of(&trimmed_short),
        "full_short": Stats::of(&full_short),
        "trimmed_long": Stats::of(&trimmed_long),
        "full_long": Stats::of(&full_long),
        "speedup_p50_short": ratio(&full_short, &trimmed_short),
        "speedup_p50_long": ratio(&full_long, &trimmed_long),
        "worst_abs_difference": worst_difference,
        "examples": {"short": short.first(), "long": long.first()},
    });
    println!("{}", serde_json::to_string_pretty(&report).expect("json"));
}

/// Keeps the `k` best `(score, id)` pairs, best first.
struct TopK {
    k: usize,
    items: Vec<(f32, u64)>,
}

impl TopK {
    fn new(k: usize) -> Self {
        Self {
            k,
            items: Vec::with_capacity(k + 1),
        }
    }

    fn offer(&mut self, score: f32, id: u64) {
        if self.items.len() == self.k && score <= self.items[self.k - 1].0 {
            return;
        }
        let at = self.items.partition_point(|(s, _)| *s >= score);
        self.items.insert(at, (score, id));
        self.items.truncate(self.k);
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn recall(args: &Args) {
    let library = PathBuf::from(args.require("library"));
    let queries: usize = args.number("queries", 100);
    let k: usize = args.number("k", 10);
    let threads: usize = args.number("threads", magpie_bench::cores());
    let data = DataSpec::load(&library);
    let reader = Reader::open(&library).expect("open library");
    let snapshot = reader.snapshot();
    let stats = reader.stats().expect("library stats");
    // Queries from the data's distribution but not in the library: for clustered data, new points
    // of the same clusters (ids past the last one).
    let query_vectors: Vec<Vec<f32>> = (0..queries as u64)
        .map(|q| {
            if data.clusters == 0 {
                unit_vector(data.seed ^ 0xABCD_EF01, q, data.dim)
            } else {
                let id = data.first_id + data.count + q;
                data_vector(data.seed, data.clusters, data.spread, id, data.dim)
            }
        })
        .collect();

    // Approximate: the HNSW index, as the searcher asks it (k, and the searcher's pool of 500).
    let mut approximate = Vec::new();
    let mut times_k = Vec::new();
    let mut times_pool = Vec::new();
    for q in &query_vectors {
        let started = Instant::now();
        let hits = snapshot.vector_search(q, k, None).expect("vector search");
        times_k.push(started.elapsed());
        approximate.push(hits.into_iter().map(|(id, _)| id).collect::<Vec<_>>());
        let started = Instant::now();
        let pool = snapshot.vector_search(q, 500, None).expect("vector search");
        times_pool.push(started.elapsed());
        drop(pool);
    }

    // Exact: every vector regenerated, scored against every query.
    let started = Instant::now();
    let last = data.first_id + data.count;
    let chunk = data.count.div_ceil(threads as u64);
    let partials: Vec<Vec<TopK>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads as u64)
            .map(|t| {
                let query_vectors = &query_vectors;
                let data = &data;
                scope.spawn(move || {
                    let mut tops: Vec<TopK> =
                        (0..query_vectors.len()).map(|_| TopK::new(k)).collect();
                    let from = data.first_id + t * chunk;
                    let to = (from + chunk).min(last);
                    for id in from..to {
                        let v = data_vector(data.seed, data.clusters, data.spread, id, data.dim);
                        for (top, q) in tops.iter_mut().zip(query_vectors) {
                            top.offer(dot(&v, q), id);
                        }
                    }
                    tops
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("exact scan thread"))
            .collect()
    });
    let exact_seconds = started.elapsed().as_secs_f64();
    let mut recalls = Vec::new();
    for (q, found) in approximate.iter().enumerate() {
        let mut top = TopK::new(k);
        for partial in &partials {
            for (score, id) in &partial[q].items {
                top.offer(*score, *id);
            }
        }
        let truth: Vec<u64> = top.items.iter().map(|(_, id)| *id).collect();
        let hit = found.iter().filter(|id| truth.contains(id)).count();
        recalls.push(hit as f64 / k as f64);
    }
    // Separates the two losses: exact ranking of the *stored* (quantized) vectors against the
    // float truth, for the first few queries (each scans the whole index through `get`).
    let stored_queries = queries.min(args.number("stored-queries", 10));
    let all_ids: std::collections::HashSet<u64> = (data.first_id..last).collect();
    let mut stored_recalls = Vec::new();
    let mut hnsw_vs_stored = Vec::new();
    for (q, query) in query_vectors.iter().take(stored_queries).enumerate() {
        let stored: Vec<u64> = snapshot
            .exact_search(query, &all_ids, k)
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        let mut top = TopK::new(k);
        for partial in &partials {
            for (score, id) in &partial[q].items {
                top.offer(*score, *id);
            }
        }
        let truth: Vec<u64> = top.items.iter().map(|(_, id)| *id).collect();
        stored_recalls
            .push(stored.iter().filter(|id| truth.contains(id)).count() as f64 / k as f64);
        hnsw_vs_stored.push(
            approximate[q]
                .iter()
                .filter(|id| stored.contains(id))
                .count() as f64
                / k as f64,
        );
    }
    let average = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let mean = recalls.iter().sum::<f64>() / recalls.len().max(1) as f64;
    let min = recalls.iter().copied().fold(f64::INFINITY, f64::min);
    let report = json!({
        "bench": "recall",
        "library": library,
        "images": snapshot.vectors_len(),
        "queries": queries,
        "k": k,
        "query_kind": if data.clusters == 0 {
            "random unit vectors (uniform on the sphere), same distribution as the data"
        } else {
            "new points of the same clusters as the data"
        },
        "data_clusters": data.clusters,
        "data_spread": data.spread,
        "recall_at_k_mean": mean,
        "recall_at_k_min": min,
        "stored_vectors_exact_recall_at_k": average(&stored_recalls),
        "hnsw_vs_stored_exact_recall_at_k": average(&hnsw_vs_stored),
        "stored_checks_queries": stored_queries,
        "hnsw": {
            "connectivity": magpie_catalog::CONNECTIVITY,
            "expansion_add": magpie_catalog::EXPANSION_ADD,
            "expansion_search": stats.expansion_search,
            "search_tuning": stats.search_tuning,
        },
        "vector_search_k": Stats::of(&times_k),
        "vector_search_k500": Stats::of(&times_pool),
        "exact_scan_seconds": exact_seconds,
    });
    println!("{}", serde_json::to_string_pretty(&report).expect("json"));
}

fn milvus(args: &Args) {
    use magpie_milvus::client::VectorType;
    use magpie_milvus::{schema, Milvus, MilvusAddress};
    let library = PathBuf::from(args.require("library"));
    let address = MilvusAddress::parse(args.require("milvus")).expect("--milvus");
    let collection = args
        .get("collection")
        .map(str::to_string)
        .unwrap_or_else(|| "querybench".into());
    let queries: usize = args.number("queries", 200);
    let k: usize = args.number("k", 10);
    let batch: usize = args.number("batch", 2000);
    let data = DataSpec::load(&library);
    let reader = Reader::open(&library).expect("open library");
    let snapshot = reader.snapshot();
    let milvus = Milvus::connect(&address).unwrap_or_else(|e| panic!("{e}"));
    milvus.drop_collection(&collection).expect("drop");
    milvus
        .create_collection(&collection, data.dim, VectorType::F32, Default::default())
        .expect("create collection");

    // The same records the library holds, with their vectors regenerated (f32).
    let started = Instant::now();
    let mut rows = Vec::with_capacity(batch);
    snapshot.for_each_record(|record| {
        let v = data_vector(data.seed, data.clusters, data.spread, record.id, data.dim);
        rows.push(schema::row(&record, &v, 0));
        if rows.len() >= batch {
            milvus
                .upsert(&collection, std::mem::take(&mut rows))
                .expect("upsert");
        }
    });
    if !rows.is_empty() {
        milvus.upsert(&collection, rows).expect("upsert");
    }
    milvus.flush(&collection).expect("flush");
    let load_seconds = started.elapsed().as_secs_f64();
    let loaded = milvus.count(&collection).expect("count");

    let query_vectors: Vec<Vec<f32>> = (0..queries as u64)
        .map(|q| unit_vector(data.seed ^ 0xABCD_EF01, q, data.dim))
        .collect();
    let (mut local_times, mut milvus_times) = (Vec::new(), Vec::new());
    let mut overlap = Vec::new();
    // Warm both (the first Milvus search builds its in-memory index).
    let _ = milvus.search(&collection, &query_vectors[0], k, None);
    for q in &query_vectors {
        let started = Instant::now();
        let local = snapshot.vector_search(q, k, None).expect("vector search");
        local_times.push(started.elapsed());
        let started = Instant::now();
        let remote = milvus
            .search(&collection, q, k, None)
            .expect("milvus search");
        milvus_times.push(started.elapsed());
        let local: Vec<u64> = local.into_iter().map(|(id, _)| id).collect();
        let same = remote.iter().filter(|(id, _)| local.contains(id)).count();
        overlap.push(same as f64 / k as f64);
    }
    let local = Stats::of(&local_times);
    let remote = Stats::of(&milvus_times);
    let report = json!({
        "bench": "milvus",
        "library": library,
        "milvus": address.uri,
        "images": snapshot.vectors_len(),
        "dimensions": data.dim,
        "loaded": loaded,
        "load_seconds": load_seconds,
        "load_vectors_per_second": loaded as f64 / load_seconds.max(1e-9),
        "queries": queries,
        "k": k,
        "local_vector_search": local,
        "milvus_vector_search": remote,
        "milvus_over_local_p50": remote.p50_ms / local.p50_ms,
        "milvus_over_local_p99": remote.p99_ms / local.p99_ms,
        "top_k_overlap_mean": overlap.iter().sum::<f64>() / overlap.len().max(1) as f64,
    });
    milvus.drop_collection(&collection).expect("drop");
    println!("{}", serde_json::to_string_pretty(&report).expect("json"));
}
