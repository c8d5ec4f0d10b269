//! Zero-shot tagging: score every image against user-given labels, the way the model was trained.
//!
//! Each label is embedded with the label prompt ensemble ("a photo of a {label}.", …; see
//! [`crate::prompts`]). For an image embedding `x` and label embeddings `lⱼ`, [`TagScoring`]:
//! - CLIP (contrastive softmax): `pⱼ = softmax(100 · cos(x, lⱼ))` — 100 is CLIP's learned logit
//!   scale, which turns cosine differences of a few hundredths into confident probabilities;
//! - SigLIP, SigLIP2, NLLB-SigLIP (sigmoid loss): `pⱼ = σ(scale · cos(x, lⱼ) + bias)`, each label
//!   on its own — the model was trained to say yes or no per pair, not to share a probability
//!   out among the labels; scale and bias come from the export when it carries them.
//!
//! A label is assigned when `pⱼ ≥ threshold` (default [`DEFAULT_TAG_THRESHOLD`] = 0.25, so an
//! image can carry up to four softmax labels, e.g. "dog" and "beach"), and, when `min_cosine` is
//! set, `cos(x, lⱼ) ≥ min_cosine`.
//!
//! Why the optional cosine floor: a softmax always hands out all its probability, so a photo
//! that fits no label still gets the least-bad one; an absolute floor (model-specific, ≈ 0.2 for
//! CLIP ViT-B/32) lets such photos stay untagged. At least two labels are required, because a
//! softmax over one label is always 1.

use serde::{Deserialize, Serialize};

use crate::vector::cosine;

/// CLIP's logit scale (exp of the learned temperature, clamped to 100 in training).
pub const CLIP_LOGIT_SCALE: f32 = 100.0;
pub const DEFAULT_TAG_THRESHOLD: f32 = 0.25;

/// How cosines become label probabilities (the model family's training objective).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "kind")]
pub enum TagScoring {
    /// `softmax(logit_scale · cos)` over the labels (CLIP).
    Softmax { logit_scale: f32 },
    /// `σ(logit_scale · cos + logit_bias)` per label (SigLIP).
    Sigmoid { logit_scale: f32, logit_bias: f32 },
}

impl Default for TagScoring {
    fn default() -> Self {
        TagScoring::Softmax {
            logit_scale: CLIP_LOGIT_SCALE,
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TagError {
    #[error("give at least two labels (comma-separated): a softmax over one label is always 1")]
    TooFewLabels,
    #[error("--threshold must be a probability in (0, 1], got {0}")]
    InvalidThreshold(f32),
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TagRule {
    /// Minimum softmax probability.
    pub threshold: f32,
    /// Optional minimum cosine between image and label.
    pub min_cosine: Option<f32>,
}

impl Default for TagRule {
    fn default() -> Self {
        Self {
            threshold: DEFAULT_TAG_THRESHOLD,
            min_cosine: None,
        }
    }
}

impl TagRule {
    pub fn validate(&self) -> Result<(), TagError> {
        if self.threshold > 0.0 && self.threshold <= 1.0 {
            Ok(())
        } else {
            Err(TagError::InvalidThreshold(self.threshold))
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssignedTag {
    pub label: String,
    pub probability: f32,
    pub cosine: f32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageTags {
    pub id: u64,
    /// Most probable first.
    pub tags: Vec<AssignedTag>,
}

/// `"dog, cat,,Beach"` → `["dog", "cat", "Beach"]`: trimmed, empties dropped, case-insensitive
/// duplicates dropped (first spelling kept).
pub fn parse_labels(list: &str) -> Result<Vec<String>, TagError> {
    let mut labels: Vec<String> = Vec::new();
    for label in list.split(',').map(str::trim).filter(|l| !l.is_empty()) {
        if !labels.iter().any(|l| l.eq_ignore_ascii_case(label)) {
            labels.push(label.to_string());
        }
    }
    if labels.len() < 2 {
        return Err(TagError::TooFewLabels);
    }
    Ok(labels)
}

/// `softmax(CLIP_LOGIT_SCALE · cos(image, label))` over the labels, with each label's cosine.
pub fn label_probabilities(image: &[f32], labels: &[Vec<f32>]) -> Vec<(f32, f32)> {
    scored_probabilities(TagScoring::default(), image, labels)
}

/// Each label's probability under `scoring`, with its cosine.
pub fn scored_probabilities(
    scoring: TagScoring,
    image: &[f32],
    labels: &[Vec<f32>],
) -> Vec<(f32, f32)> {
    let cosines: Vec<f32> = labels.iter().map(|l| cosine(image, l)).collect();
    match scoring {
        TagScoring::Softmax { logit_scale } => {
            let max_logit = cosines
                .iter()
                .map(|c| c * logit_scale)
                .fold(f32::NEG_INFINITY, f32::max);
            // Subtracting the largest logit keeps exp() from overflowing.
            let exps: Vec<f32> = cosines
                .iter()
                .map(|c| (c * logit_scale - max_logit).exp())
                .collect();
            let total: f32 = exps.iter().sum();
            exps.iter()
                .zip(cosines)
                .map(|(e, c)| (e / total, c))
                .collect()
        }
        TagScoring::Sigmoid {
            logit_scale,
            logit_bias,
        } => cosines
            .into_iter()
            .map(|c| (1.0 / (1.0 + (-(logit_scale * c + logit_bias)).exp()), c))
            .collect(),
    }
}

/// The labels `image` earns under `rule`, most probable first (CLIP's softmax).
pub fn assign_tags(
    image: &[f32],
    labels: &[String],
    label_vectors: &[Vec<f32>],
    rule: &TagRule,
) -> Vec<AssignedTag> {
    assign_tags_scored(TagScoring::default(), image, labels, label_vectors, rule)
}

/// The labels `image` earns under `rule` and `scoring`, most probable first.
pub fn assign_tags_scored(
    scoring: TagScoring,
    image: &[f32],
    labels: &[String],
    label_vectors: &[Vec<f32>],
    rule: &TagRule,
) -> Vec<AssignedTag> {
    let mut tags: Vec<AssignedTag> = scored_probabilities(scoring, image, label_vectors)
        .into_iter()
        .zip(labels)
        .filter(|((p, c), _)| *p >= rule.threshold && rule.min_cosine.is_none_or(|m| *c >= m))
        .map(|((probability, cosine), label)| AssignedTag {
            label: label.clone(),
            probability,
            cosine,
        })
        .collect();
    tags.sort_by(|a, b| b.probability.total_cmp(&a.probability));
    tags
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> (Vec<String>, Vec<Vec<f32>>) {
        (
            vec!["dog".into(), "beach".into(), "document".into()],
            vec![
                vec![1.0, 0.0, 0.0, 0.0],
                vec![0.0, 1.0, 0.0, 0.0],
                vec![0.0, 0.0, 1.0, 0.0],
            ],
        )
    }

    #[test]
    fn parses_label_lists() {
        assert_eq!(
            parse_labels(" dog, cat,,Dog ,beach").unwrap(),
            vec!["dog", "cat", "beach"]
        );
        assert_eq!(parse_labels("dog"), Err(TagError::TooFewLabels));
        assert_eq!(parse_labels(" , "), Err(TagError::TooFewLabels));
    }

    #[test]
    fn probabilities_are_a_scaled_softmax() {
        let (_, vectors) = labels();
        let p = label_probabilities(&[0.3, 0.29, 0.2, 0.9], &vectors);
        let sum: f32 = p.iter().map(|(p, _)| p).sum();
        assert!((sum - 1.0).abs() < 1e-5);
        // A cosine difference of ~0.01 is a logit difference of ~1 at scale 100.
        let norm = (0.3f32 * 0.3 + 0.29 * 0.29 + 0.2 * 0.2 + 0.81).sqrt();
        let expected_ratio = (100.0 * 0.01 / norm).exp();
        assert!((p[0].0 / p[1].0 - expected_ratio).abs() < 1e-3);
    }

    #[test]
    fn dog_on_a_beach_gets_both_labels() {
        let (names, vectors) = labels();
        let tags = assign_tags(
            &[0.30, 0.295, 0.2, 0.9],
            &names,
            &vectors,
            &TagRule::default(),
        );
        let got: Vec<&str> = tags.iter().map(|t| t.label.as_str()).collect();
        assert_eq!(got, vec!["dog", "beach"]);
        let strict = TagRule {
            threshold: 0.7,
            min_cosine: None,
        };
        assert!(assign_tags(&[0.30, 0.295, 0.2, 0.9], &names, &vectors, &strict).is_empty());
    }

    #[test]
    fn cosine_floor_leaves_unrelated_images_untagged() {
        let (names, vectors) = labels();
        let unrelated = [0.05, 0.01, 0.0, 1.0];
        assert_eq!(
            assign_tags(&unrelated, &names, &vectors, &TagRule::default()).len(),
            1
        );
        let floor = TagRule {
            min_cosine: Some(0.2),
            ..TagRule::default()
        };
        assert!(assign_tags(&unrelated, &names, &vectors, &floor).is_empty());
    }

    #[test]
    fn sigmoid_scores_each_label_on_its_own() {
        let (names, vectors) = labels();
        let sigmoid = TagScoring::Sigmoid {
            logit_scale: 112.0,
            logit_bias: -10.0,
        };
        let image = [0.30, 0.295, 0.2, 0.9];
        let p = scored_probabilities(sigmoid, &image, &vectors);
        let norm = (0.3f32 * 0.3 + 0.295 * 0.295 + 0.2 * 0.2 + 0.81).sqrt();
        let expected = 1.0 / (1.0 + (-(112.0 * 0.3 / norm - 10.0)).exp());
        assert!((p[0].0 - expected).abs() < 1e-5);
        // Not a distribution: probabilities need not sum to one, and adding a label changes
        // nothing for the others.
        let sum: f32 = p.iter().map(|(p, _)| p).sum();
        assert!((sum - 1.0).abs() > 0.1, "{sum}");
        let fewer = scored_probabilities(sigmoid, &image, &vectors[..2]);
        assert_eq!(fewer[0], p[0]);
        let tags = assign_tags_scored(sigmoid, &image, &names, &vectors, &TagRule::default());
        assert_eq!(tags.len(), 3, "all three clear σ ≥ 0.25 here: {tags:?}");
        let unrelated = [0.0, 0.0, 0.0, 1.0];
        assert!(
            assign_tags_scored(sigmoid, &unrelated, &names, &vectors, &TagRule::default())
                .is_empty()
        );
    }

    #[test]
    fn threshold_is_validated() {
        assert!(TagRule::default().validate().is_ok());
        for bad in [0.0, -0.1, 1.5, f32::NAN] {
            let rule = TagRule {
                threshold: bad,
                min_cosine: None,
            };
            assert!(rule.validate().is_err());
        }
    }
}
