//! The adaptive relevance cutoff: where a ranking stops being relevant, decided from the scores
//! themselves instead of a fixed top-k, so results do not trail off into junk.
//!
//! Over the candidate cosines `s₁ ≥ s₂ ≥ … ≥ sₙ` (the vector ranking before fusion):
//! 1. **Relative window** — keep only `sᵢ ≥ s₁ − Δ`, `Δ = max(relative_window·|s₁|, min_window)`.
//!    Relative to the best score because absolute cosines differ by model and by query type
//!    (CLIP text→image cosines sit around 0.2–0.35, image→image up to 1).
//! 2. **Shape of the distribution** — if every candidate is inside the window the pool is
//!    homogeneous (e.g. 1,000 red photos for "red") and nothing more is cut. Otherwise, if there
//!    is a *clear gap* — the largest drop between neighbours, at or above the window's edge, is at
//!    least `gap_ratio` of the pool's whole range (`s₁ − sₙ`) — cut at it: that is the edge of a
//!    relevant cluster. With no clear gap keep `sᵢ ≥ μ + z·σ` (mean and spread of the pool).
//!    The gap and z rules need at least `min_samples` scores to mean anything.
//! 3. Keep the smaller of (1) and (2), but at least `min_keep` (a floor, so a query that matches
//!    nothing well still shows its best guess).
//!
//! `--min-score` replaces all of this with `sᵢ ≥ min_score` (no floor).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CutoffConfig {
    /// Δ as a fraction of the best score.
    pub relative_window: f32,
    /// Smallest Δ, for best scores near zero.
    pub min_window: f32,
    /// A gap is clear when at least this fraction of the pool's score range.
    pub gap_ratio: f32,
    /// Keep scores at least this many standard deviations above the pool mean.
    pub z: f32,
    /// Fewer scores than this: only the relative window applies.
    pub min_samples: usize,
    /// Always keep at least this many (when there are that many).
    pub min_keep: usize,
}

impl Default for CutoffConfig {
    fn default() -> Self {
        Self {
            relative_window: 0.2,
            min_window: 0.01,
            // The top gap of a normal junk distribution of a few hundred scores is ~5 % of its
            // range; 15 % is three times that.
            gap_ratio: 0.15,
            z: 1.0,
            min_samples: 8,
            min_keep: 1,
        }
    }
}

/// Which rule decided the cut (for logs and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CutRule {
    NoScores,
    MinScore,
    RelativeWindow,
    Homogeneous,
    Gap,
    Spread,
    Floor,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CutoffOutcome {
    /// How many of the leading scores to keep.
    pub keep: usize,
    /// The lowest kept score (`--min-score` itself when given); `None` when nothing is kept.
    pub threshold: Option<f32>,
    pub rule: CutRule,
}

/// `scores` must be sorted best first.
pub fn adaptive_cutoff(scores: &[f32], config: &CutoffConfig) -> CutoffOutcome {
    let n = scores.len();
    if n == 0 {
        return CutoffOutcome {
            keep: 0,
            threshold: None,
            rule: CutRule::NoScores,
        };
    }
    let best = scores[0];
    let window = (config.relative_window * best.abs()).max(config.min_window);
    let keep_relative = scores.iter().take_while(|&&s| s >= best - window).count();

    let (keep_shape, shape_rule) = if keep_relative == n {
        (n, CutRule::Homogeneous)
    } else if n < config.min_samples {
        (n, CutRule::RelativeWindow)
    } else if let Some(edge) = clear_gap(scores, keep_relative, config.gap_ratio) {
        (edge + 1, CutRule::Gap)
    } else {
        let (mean, std_dev) = mean_and_std_dev(scores);
        let bar = mean + config.z * std_dev;
        (
            scores.iter().take_while(|&&s| s >= bar).count(),
            CutRule::Spread,
        )
    };

    let (mut keep, mut rule) = if keep_relative < keep_shape {
        (keep_relative, CutRule::RelativeWindow)
    } else {
        (keep_shape, shape_rule)
    };
    if keep < config.min_keep.min(n) {
        keep = config.min_keep.min(n);
        rule = CutRule::Floor;
    }
    CutoffOutcome {
        keep,
        threshold: keep.checked_sub(1).map(|i| scores[i]),
        rule,
    }
}

/// `--min-score`: keep exactly the scores at or above it.
pub fn min_score_cutoff(scores: &[f32], min_score: f32) -> CutoffOutcome {
    CutoffOutcome {
        keep: scores.iter().take_while(|&&s| s >= min_score).count(),
        threshold: Some(min_score),
        rule: CutRule::MinScore,
    }
}

/// The index `i` of the largest drop `sᵢ − sᵢ₊₁` among `i < within`, if it is clear.
fn clear_gap(scores: &[f32], within: usize, gap_ratio: f32) -> Option<usize> {
    let range = scores[0] - scores[scores.len() - 1];
    if range <= 0.0 {
        return None;
    }
    let (edge, gap) = scores
        .windows(2)
        .take(within)
        .map(|w| w[0] - w[1])
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))?;
    (gap >= gap_ratio * range).then_some(edge)
}

fn mean_and_std_dev(scores: &[f32]) -> (f32, f32) {
    let n = scores.len() as f64;
    let mean = scores.iter().map(|&s| f64::from(s)).sum::<f64>() / n;
    let variance = scores
        .iter()
        .map(|&s| (f64::from(s) - mean).powi(2))
        .sum::<f64>()
        / n;
    (mean as f32, variance.sqrt() as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic pseudo-random numbers in [0, 1) (SplitMix64).
    fn uniform(seed: u64, count: usize) -> Vec<f32> {
        let mut state = seed;
        (0..count)
            .map(|_| {
                state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
                let mut z = state;
                z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                ((z ^ (z >> 31)) >> 40) as f32 / (1u64 << 24) as f32
            })
            .collect()
    }

    fn sorted_desc(mut v: Vec<f32>) -> Vec<f32> {
        v.sort_by(|a, b| b.total_cmp(a));
        v
    }

    #[test]
    fn cuts_at_the_gap_between_a_cluster_and_a_junk_tail() {
        // 20 relevant at 0.29..0.31, 480 junk at 0.11..0.19 (CLIP text→image scale).
        let mut scores: Vec<f32> = uniform(1, 20).iter().map(|u| 0.29 + 0.02 * u).collect();
        scores.extend(uniform(2, 480).iter().map(|u| 0.11 + 0.08 * u));
        let outcome = adaptive_cutoff(&sorted_desc(scores), &CutoffConfig::default());
        assert_eq!(outcome.keep, 20);
        assert!(outcome.threshold.unwrap() >= 0.29);
    }

    #[test]
    fn cuts_at_a_gap_even_when_junk_reaches_into_the_window() {
        // Relevant at 0.30..0.31, junk up to 0.26: inside the relative window (Δ ≈ 0.06).
        let mut scores: Vec<f32> = uniform(3, 12).iter().map(|u| 0.30 + 0.01 * u).collect();
        scores.extend(uniform(4, 300).iter().map(|u| 0.10 + 0.16 * u));
        let outcome = adaptive_cutoff(&sorted_desc(scores), &CutoffConfig::default());
        assert_eq!((outcome.keep, outcome.rule), (12, CutRule::Gap));
    }

    #[test]
    fn uniform_scores_keep_a_sensible_share() {
        let scores = sorted_desc(uniform(5, 500).iter().map(|u| 0.1 + 0.2 * u).collect());
        let outcome = adaptive_cutoff(&scores, &CutoffConfig::default());
        // μ + σ of a uniform distribution leaves its top ~21 %.
        assert!(
            (80..=130).contains(&outcome.keep),
            "kept {} of 500 ({:?})",
            outcome.keep,
            outcome.rule
        );
        assert_eq!(outcome.rule, CutRule::Spread);
    }

    #[test]
    fn a_homogeneous_pool_is_kept_whole() {
        let scores = sorted_desc(uniform(6, 400).iter().map(|u| 0.9 + 0.05 * u).collect());
        let outcome = adaptive_cutoff(&scores, &CutoffConfig::default());
        assert_eq!((outcome.keep, outcome.rule), (400, CutRule::Homogeneous));
    }

    #[test]
    fn relative_window_bounds_a_wide_spread() {
        // Few scores: only the window applies.
        let outcome = adaptive_cutoff(&[0.9, 0.8, 0.5, 0.1], &CutoffConfig::default());
        assert_eq!((outcome.keep, outcome.rule), (2, CutRule::RelativeWindow));
        assert_eq!(outcome.threshold, Some(0.8));
    }

    #[test]
    fn floor_and_empty() {
        let config = CutoffConfig {
            min_keep: 3,
            ..CutoffConfig::default()
        };
        let outcome = adaptive_cutoff(&[0.9, 0.2, 0.1], &config);
        assert_eq!((outcome.keep, outcome.rule), (3, CutRule::Floor));
        let empty = adaptive_cutoff(&[], &config);
        assert_eq!((empty.keep, empty.threshold), (0, None));
        assert_eq!(adaptive_cutoff(&[0.3], &CutoffConfig::default()).keep, 1);
    }

    #[test]
    fn min_score_overrides() {
        let scores = [0.9, 0.5, 0.4, 0.1];
        assert_eq!(min_score_cutoff(&scores, 0.45).keep, 2);
        assert_eq!(min_score_cutoff(&scores, 0.95).keep, 0);
        assert_eq!(min_score_cutoff(&scores, -1.0).keep, 4);
    }
}
