//! The HNSW search breadth (`ef`) measured on the library's own vectors.
//!
//! Why: the breadth a graph index needs for a given recall depends on the data. Uniformly random
//! 512-d directions, the worst case, need ef ≈ 8192 for recall@10 ≥ 0.98 at 100 k vectors, and
//! even ef 4096 costs ~50 ms a query at 1 M on 2 cores; clustered, CLIP-like data reaches the same
//! recall at a few hundred. A fixed ef is therefore either slow on real libraries or wrong on hard
//! ones. Instead, once a library is big enough for it to matter, the writer measures: it draws
//! probe queries from the stored vectors, finds their true neighbours by an exact scan, and picks
//! the smallest ef on a doubling ladder at which every probe family reaches the target recall.
//! The choice is recorded in the vector sidecar with what was measured, and re-measured whenever
//! the library has doubled or halved since.
//!
//! Probe families (none is a text query: Magpie has no text embeddings at indexing time):
//! - *neighbour*: a stored vector itself, its own entry left out — the `--like` search;
//! - *blend*: the normalised sum of two stored vectors — a query between two subjects;
//! - *faint*: a stored vector buried in noise to cosine 0.5 with it — a query that points at a
//!   region of the library without matching any photo closely, as text queries do (CLIP's text
//!   and image embeddings of a matching pair have a cosine of only about 0.3).

use serde::{Deserialize, Serialize};

use crate::record::ImageId;

/// recall@10 the tuning aims for (the target in the benchmarks issue).
pub const TARGET_RECALL: f64 = 0.98;

/// Below this many vectors the default breadth is cheap (a search at ef 4096 over 10 k vectors
/// takes a few milliseconds) and all but exact, so nothing is measured.
pub const TUNE_MIN_VECTORS: usize = 10_000;

/// The breadths tried, in order, up to the ceiling of the measurement; the last one tried is
/// used, and recorded as not reaching the target, when none does.
pub(crate) const LADDER: [usize; 10] = [32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384];

/// The highest breadth a measurement picks unless asked for more (`magpie library tune
/// --max-breadth`): the untuned default, so measuring never makes searches slower than they were.
/// Data that needs more (uniform random 512-d directions at 100 k need 8192) is recorded as
/// missing the target instead: a broader walk costs proportionally more time on every query.
pub const DEFAULT_MAX_BREADTH: usize = crate::vectors::EXPANSION_SEARCH;

/// Stored vectors drawn for the probes; each gives one probe of every family.
pub(crate) const PROBE_BASES: usize = 64;

/// Neighbours per probe whose recall is measured.
pub(crate) const PROBE_K: usize = 10;

/// Cosine between a faint probe and the stored vector it was made from.
const FAINT_COSINE: f32 = 0.5;

/// What the last measurement found, kept in the vector sidecar.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchTuning {
    /// The breadth searches use.
    pub expansion_search: usize,
    /// The recall@10 aimed for.
    pub target_recall: f64,
    /// The highest breadth the measurement could pick.
    #[serde(default = "default_max_breadth")]
    pub max_expansion_search: usize,
    /// Whether every family reached it at `expansion_search` (false: the ladder ran out).
    pub reached: bool,
    /// Vectors in the library when measured.
    pub vectors: usize,
    /// Probes per family.
    pub probes: usize,
    /// recall@10 of each family at `expansion_search`.
    pub recall: Vec<FamilyRecall>,
}

fn default_max_breadth() -> usize {
    DEFAULT_MAX_BREADTH
}

impl SearchTuning {
    /// The lowest recall of any family at the chosen breadth.
    pub fn worst_recall(&self) -> f64 {
        self.recall
            .iter()
            .map(|f| f.recall)
            .fold(f64::INFINITY, f64::min)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FamilyRecall {
    pub family: Family,
    pub recall: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Neighbour,
    Blend,
    Faint,
}

impl Family {
    pub const ALL: [Family; 3] = [Family::Neighbour, Family::Blend, Family::Faint];
}

/// One probe query: its vector, and the stored vector it must not be credited for finding.
pub(crate) struct Probe {
    pub family: Family,
    pub vector: Vec<f32>,
    pub exclude: Option<ImageId>,
}

/// Whether a library of `len` vectors last measured as `tuning` should be measured again: it has
/// reached [`TUNE_MIN_VECTORS`] for the first time, or doubled or halved since, or it has shrunk
/// below that size with a measurement left over (which measuring again drops).
pub(crate) fn needs_tuning(tuning: Option<&SearchTuning>, len: usize) -> bool {
    if len < TUNE_MIN_VECTORS {
        return tuning.is_some();
    }
    match tuning {
        None => true,
        Some(t) => len >= t.vectors.saturating_mul(2) || len.saturating_mul(2) <= t.vectors,
    }
}

/// Up to `want` distinct ids below `limit` for which `present` holds, drawn at random (ids of
/// deleted images are skipped; a library with very few live ids yields fewer).
pub(crate) fn sample_ids(
    limit: u64,
    want: usize,
    seed: u64,
    present: impl Fn(ImageId) -> bool,
) -> Vec<ImageId> {
    let mut rng = SplitMix64(seed);
    let mut out = Vec::with_capacity(want);
    for _ in 0..want * 64 {
        if out.len() == want || limit == 0 {
            break;
        }
        let id = rng.next() % limit;
        if present(id) && !out.contains(&id) {
            out.push(id);
        }
    }
    out
}

/// The probes made from stored vectors (`(id, unit vector)`), in family order.
pub(crate) fn probes(bases: &[(ImageId, Vec<f32>)], seed: u64) -> Vec<Probe> {
    let mut rng = SplitMix64(seed ^ 0xFA17_7E57);
    let mut out = Vec::with_capacity(bases.len() * Family::ALL.len());
    for (id, v) in bases {
        out.push(Probe {
            family: Family::Neighbour,
            vector: v.clone(),
            exclude: Some(*id),
        });
    }
    for (i, (_, v)) in bases.iter().enumerate() {
        let (_, w) = &bases[(i + 1) % bases.len()];
        if let Some(vector) = unit(v.iter().zip(w).map(|(a, b)| a + b).collect()) {
            out.push(Probe {
                family: Family::Blend,
                vector,
                exclude: None,
            });
        }
    }
    // v + s·r with r a random unit vector (nearly orthogonal to v in high dimensions) has
    // cosine 1/√(1+s²) with v.
    let s = (1.0 / (FAINT_COSINE * FAINT_COSINE) - 1.0).sqrt();
    for (_, v) in bases {
        let r = rng.unit_vector(v.len());
        if let Some(vector) = unit(v.iter().zip(&r).map(|(a, b)| a + s * b).collect()) {
            out.push(Probe {
                family: Family::Faint,
                vector,
                exclude: None,
            });
        }
    }
    out
}

/// The first `k` of `hits` other than `exclude`.
pub(crate) fn top_k_without(hits: &[ImageId], exclude: Option<ImageId>, k: usize) -> Vec<ImageId> {
    hits.iter()
        .copied()
        .filter(|id| Some(*id) != exclude)
        .take(k)
        .collect()
}

/// Mean recall per family: the share of each probe's true neighbours that the search found.
pub(crate) fn recall_by_family(
    probes: &[Probe],
    truth: &[Vec<ImageId>],
    found: &[Vec<ImageId>],
) -> Vec<FamilyRecall> {
    Family::ALL
        .iter()
        .filter_map(|&family| {
            let mut sum = 0.0;
            let mut n = 0usize;
            for ((probe, truth), found) in probes.iter().zip(truth).zip(found) {
                if probe.family != family || truth.is_empty() {
                    continue;
                }
                let hit = found.iter().filter(|id| truth.contains(id)).count();
                sum += hit as f64 / truth.len() as f64;
                n += 1;
            }
            (n > 0).then(|| FamilyRecall {
                family,
                recall: sum / n as f64,
            })
        })
        .collect()
}

fn unit(mut v: Vec<f32>) -> Option<Vec<f32>> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if !norm.is_finite() || norm < 1e-6 {
        return None;
    }
    v.iter_mut().for_each(|x| *x /= norm);
    Some(v)
}

/// A small deterministic generator, so a measurement can be repeated exactly.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1].
    fn uniform(&mut self) -> f32 {
        ((self.next() >> 40) as f32 + 1.0) / (1u64 << 24) as f32
    }

    /// A direction uniform on the sphere (normalised Gaussian, by Box–Muller).
    fn unit_vector(&mut self, dim: usize) -> Vec<f32> {
        let v: Vec<f32> = (0..dim)
            .map(|_| {
                let (a, b) = (self.uniform(), self.uniform());
                (-2.0 * a.ln()).sqrt() * (std::f32::consts::TAU * b).cos()
            })
            .collect();
        unit(v).unwrap_or_else(|| {
            let mut e = vec![0.0; dim];
            e[0] = 1.0;
            e
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retunes_when_the_library_doubles_or_halves() {
        assert!(!needs_tuning(None, TUNE_MIN_VECTORS - 1));
        assert!(needs_tuning(None, TUNE_MIN_VECTORS));
        let t = SearchTuning {
            expansion_search: 128,
            target_recall: TARGET_RECALL,
            max_expansion_search: DEFAULT_MAX_BREADTH,
            reached: true,
            vectors: 40_000,
            probes: 64,
            recall: vec![],
        };
        assert!(!needs_tuning(Some(&t), 40_001));
        assert!(!needs_tuning(Some(&t), 79_999));
        assert!(needs_tuning(Some(&t), 80_000));
        assert!(!needs_tuning(Some(&t), 20_001));
        assert!(needs_tuning(Some(&t), 20_000));
        // Shrunk below the minimum: measured again, which goes back to the default.
        assert!(needs_tuning(Some(&t), TUNE_MIN_VECTORS - 1));
    }

    #[test]
    fn faint_probes_sit_at_the_intended_cosine() {
        let mut rng = SplitMix64(7);
        let bases: Vec<(ImageId, Vec<f32>)> = (0..8).map(|i| (i, rng.unit_vector(512))).collect();
        let probes = probes(&bases, 1);
        assert_eq!(probes.len(), 24);
        for (probe, (_, base)) in probes
            .iter()
            .filter(|p| p.family == Family::Faint)
            .zip(&bases)
        {
            let cos: f32 = probe.vector.iter().zip(base).map(|(a, b)| a * b).sum();
            assert!((cos - FAINT_COSINE).abs() < 0.08, "cosine {cos}");
        }
    }

    #[test]
    fn recall_leaves_out_the_probe_itself() {
        assert_eq!(top_k_without(&[5, 1, 2, 3], Some(5), 2), vec![1, 2]);
        let probes = vec![Probe {
            family: Family::Neighbour,
            vector: vec![],
            exclude: Some(5),
        }];
        let r = recall_by_family(&probes, &[vec![1, 2]], &[vec![2, 9]]);
        assert_eq!(r[0].recall, 0.5);
    }

    #[test]
    fn samples_only_present_ids() {
        let ids = sample_ids(1000, 50, 3, |id| id % 2 == 0);
        assert_eq!(ids.len(), 50);
        assert!(ids.iter().all(|id| id % 2 == 0));
        assert!(sample_ids(1000, 50, 3, |_| false).is_empty());
    }
}
