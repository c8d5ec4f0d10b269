//! Deterministic random vectors, brute-force nearest neighbours, and usearch index building,
//! shared by the exactness and recall tests.

use usearch::{Index, IndexOptions, MetricKind, ScalarKind};

/// SplitMix64: small, fast, deterministic; good enough for test data.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1].
    pub fn unit(&mut self) -> f32 {
        ((self.next_u64() >> 40) as f32 + 1.0) / (1u64 << 24) as f32
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f32 {
        let (u, v) = (self.unit(), self.unit());
        (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
    }

    /// A random direction, uniformly distributed on the unit sphere.
    pub fn unit_vector(&mut self, dim: usize) -> Vec<f32> {
        let v: Vec<f32> = (0..dim).map(|_| self.normal()).collect();
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.into_iter().map(|x| x / norm).collect()
    }
}

pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Exact top-k by dot product (= cosine for unit vectors), best first, ties by key.
pub fn brute_force_top_k(vectors: &[Vec<f32>], query: &[f32], k: usize) -> Vec<(u64, f32)> {
    let mut scored: Vec<(u64, f32)> = vectors
        .iter()
        .enumerate()
        .map(|(i, v)| (i as u64, dot(query, v)))
        .collect();
    let k = k.min(scored.len());
    scored.select_nth_unstable_by(k.saturating_sub(1), |a, b| {
        b.1.total_cmp(&a.1).then(a.0.cmp(&b.0))
    });
    scored.truncate(k);
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    scored
}

/// HNSW parameters for a test index.
#[derive(Debug, Clone, Copy)]
pub struct HnswParams {
    pub connectivity: usize,
    pub expansion_add: usize,
    pub expansion_search: usize,
}

/// A cosine usearch index over `vectors` (key = position), built on `threads` threads.
pub fn build_usearch(
    vectors: &[Vec<f32>],
    quantization: ScalarKind,
    params: HnswParams,
    threads: usize,
) -> Index {
    let dim = vectors[0].len();
    let index = Index::new(&IndexOptions {
        dimensions: dim,
        metric: MetricKind::Cos,
        quantization,
        connectivity: params.connectivity,
        expansion_add: params.expansion_add,
        expansion_search: params.expansion_search,
        multi: false,
    })
    .expect("create usearch index");
    index
        .reserve_capacity_and_threads(vectors.len(), threads)
        .expect("reserve");
    std::thread::scope(|scope| {
        for t in 0..threads {
            let index = &index;
            scope.spawn(move || {
                for (key, v) in vectors.iter().enumerate().skip(t).step_by(threads) {
                    index.add(key as u64, v).expect("add");
                }
            });
        }
    });
    assert_eq!(index.size(), vectors.len());
    index
}
