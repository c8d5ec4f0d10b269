//! The search breadth (HNSW ef) a library measures on its own vectors: lower for clustered data
//! than for uniformly random data, at the recall it claims, re-measured as the library grows,
//! and seen by readers.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use magpie_catalog::{
    Change, ExifFields, ImageRecord, ModelIdentity, Reader, Writer, WriterOptions,
    EXPANSION_SEARCH, TARGET_RECALL, TUNE_MIN_VECTORS,
};
use rand::{Rng as _, SeedableRng as _};

const DIM: usize = 256;

fn model() -> ModelIdentity {
    ModelIdentity {
        name: "test".into(),
        checksum: "abc".into(),
        dim: DIM,
    }
}

fn unit(mut v: Vec<f32>) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter_mut().for_each(|x| *x /= n);
    v
}

fn random_unit(seed: u64) -> Vec<f32> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    unit((0..DIM).map(|_| rng.random_range(-1.0..1.0)).collect())
}

/// Vectors of a library: uniform directions, or points scattered around a few centres (a crude
/// stand-in for CLIP embeddings, which cluster).
#[derive(Clone, Copy)]
enum Data {
    Uniform,
    Clustered,
}

impl Data {
    fn vector(self, id: u64) -> Vec<f32> {
        match self {
            Data::Uniform => random_unit(id),
            Data::Clustered => {
                let centre = random_unit(1_000_000_000 + id % 200);
                let noise = random_unit(id);
                unit(
                    centre
                        .iter()
                        .zip(&noise)
                        .map(|(c, n)| c + 0.6 * n)
                        .collect(),
                )
            }
        }
    }
}

fn record(id: u64) -> ImageRecord {
    ImageRecord {
        id,
        path: PathBuf::from(format!("/photos/{id}.jpg")),
        size: 1000 + id,
        mtime_ns: 1_600_000_000_000_000_000 + id as i64,
        content_hash: format!("{id:064x}"),
        width: 640,
        height: 480,
        format: "jpeg".into(),
        exif: ExifFields::default(),
        tags: vec![],
        indexed_at: 0,
        text: None,
    }
}

fn add(w: &mut Writer, data: Data, count: usize) -> Vec<u64> {
    let ids: Vec<u64> = (0..count).map(|_| w.allocate_id()).collect();
    let changes = ids
        .iter()
        .map(|&id| Change::Upsert {
            record: record(id),
            embedding: data.vector(id),
        })
        .collect();
    w.commit(changes).unwrap();
    ids
}

/// recall@10 of the library's own searches (through a fresh reader) against a brute-force scan,
/// for queries drawn like the data but not in it.
fn reader_recall(dir: &Path, data: Data, ids: &[u64]) -> f64 {
    let snapshot = Reader::open(dir).unwrap().snapshot();
    let vectors: Vec<(u64, Vec<f32>)> = ids.iter().map(|&id| (id, data.vector(id))).collect();
    let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
    let queries = 60u64;
    let mut found = 0;
    for q in 0..queries {
        let query = data.vector(5_000_000 + q);
        let mut exact: Vec<(u64, f32)> = vectors
            .iter()
            .map(|(id, v)| (*id, dot(&query, v)))
            .collect();
        exact.sort_by(|a, b| b.1.total_cmp(&a.1));
        let truth: HashSet<u64> = exact[..10].iter().map(|(id, _)| *id).collect();
        let hits = snapshot.vector_search(&query, 10, None).unwrap();
        found += hits.iter().filter(|(id, _)| truth.contains(id)).count();
    }
    found as f64 / (10 * queries) as f64
}

#[test]
fn breadth_is_measured_on_the_library_and_follows_its_data() {
    let size = TUNE_MIN_VECTORS + 2_000;
    let mut chosen = Vec::new();
    for data in [Data::Clustered, Data::Uniform] {
        let dir = tempfile::tempdir().unwrap();
        let mut w = Writer::open(dir.path(), &model(), &WriterOptions::default()).unwrap();
        // Small libraries keep the default breadth and measure nothing.
        let mut ids = add(&mut w, data, 2_000);
        let stats = w.stats().unwrap();
        assert!(stats.search_tuning.is_none());
        assert_eq!(stats.expansion_search, EXPANSION_SEARCH);

        ids.extend(add(&mut w, data, size - 2_000));
        let stats = Reader::open(dir.path()).unwrap().stats().unwrap();
        let tuning = stats.search_tuning.expect("a library this big is measured");
        assert_eq!(tuning.vectors, size);
        assert_eq!(stats.expansion_search, tuning.expansion_search);
        assert!(tuning.reached, "{tuning:?}");
        assert!(tuning.worst_recall() >= TARGET_RECALL, "{tuning:?}");
        assert_eq!(tuning.recall.len(), 3, "{tuning:?}");
        // What the library claims holds for queries it never saw.
        let recall = reader_recall(dir.path(), data, &ids);
        println!(
            "{}: ef {} (probe recall {:.3}); recall@10 of new queries through a reader {recall:.3}",
            match data {
                Data::Clustered => "clustered",
                Data::Uniform => "uniform",
            },
            tuning.expansion_search,
            tuning.worst_recall()
        );
        assert!(
            recall >= 0.95,
            "recall@10 {recall} at ef {}",
            tuning.expansion_search
        );
        chosen.push(tuning.expansion_search);

        // Reopened, the library keeps its measurement.
        drop(w);
        let w = Writer::open_existing(dir.path()).unwrap();
        assert_eq!(w.stats().unwrap().search_tuning, Some(tuning));
    }
    let (clustered, uniform) = (chosen[0], chosen[1]);
    assert!(
        clustered < uniform,
        "clustered data needs less breadth: {clustered} vs {uniform}"
    );
    assert!(clustered < EXPANSION_SEARCH);
}

#[test]
fn breadth_is_measured_again_as_the_library_grows_and_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = Writer::open(dir.path(), &model(), &WriterOptions::default()).unwrap();
    add(&mut w, Data::Clustered, TUNE_MIN_VECTORS);
    let first = w.stats().unwrap().search_tuning.unwrap();
    assert_eq!(first.vectors, TUNE_MIN_VECTORS);
    // Less than doubled: the measurement stands.
    add(&mut w, Data::Clustered, TUNE_MIN_VECTORS / 2);
    assert_eq!(w.stats().unwrap().search_tuning, Some(first.clone()));
    // Doubled: measured again.
    add(&mut w, Data::Clustered, TUNE_MIN_VECTORS / 2);
    let second = w.stats().unwrap().search_tuning.unwrap();
    assert_eq!(second.vectors, 2 * TUNE_MIN_VECTORS);

    // On request, for a stricter target: at least as broad, and readers switch to it.
    let generation = w.generation();
    let strict = w.tune_search(0.999, 16_384).unwrap().unwrap();
    assert_eq!(strict.target_recall, 0.999);
    assert_eq!(strict.max_expansion_search, 16_384);
    assert!(strict.expansion_search >= second.expansion_search);
    assert_eq!(w.generation(), generation + 1);
    let stats = Reader::open(dir.path()).unwrap().stats().unwrap();
    assert_eq!(stats.expansion_search, strict.expansion_search);
    assert!(w.verify().unwrap().ok);

    // A ceiling below what the data needs is kept to, and the miss is recorded.
    // (These clustered vectors need ef 128 for 0.98, so 32 cannot give 0.999.)
    let capped = w.tune_search(0.999, 32).unwrap().unwrap();
    assert_eq!(capped.expansion_search, 32);
    assert!(!capped.reached, "{capped:?}");
    assert!(
        capped.worst_recall() < 0.999 && capped.worst_recall() > 0.0,
        "{capped:?}"
    );
}
