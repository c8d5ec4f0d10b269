//! Small vector arithmetic shared by the ranking code: dot products, norms, cosine similarity.

/// Below this norm a vector is treated as zero: normalising it would only amplify rounding noise.
pub const MIN_NORM: f32 = 1e-6;

pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

pub fn norm(v: &[f32]) -> f32 {
    dot(v, v).sqrt()
}

/// `v / |v|`, or `None` for a zero, tiny or non-finite vector (which has no direction).
pub fn normalized(v: &[f32]) -> Option<Vec<f32>> {
    let n = norm(v);
    if !n.is_finite() || n < MIN_NORM {
        return None;
    }
    Some(v.iter().map(|x| x / n).collect())
}

/// Cosine similarity; 0 when either side has no direction.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let denominator = norm(a) * norm(b);
    if !denominator.is_finite() || denominator < MIN_NORM * MIN_NORM {
        return 0.0;
    }
    dot(a, b) / denominator
}

/// The normalised mean of the normalised inputs: each input counts equally whatever its length.
/// `None` when there are no inputs, the dimensions disagree, or the mean has no direction.
pub fn normalized_mean(vectors: &[Vec<f32>]) -> Option<Vec<f32>> {
    let dim = vectors.first()?.len();
    let mut sum = vec![0f32; dim];
    for v in vectors {
        if v.len() != dim {
            return None;
        }
        let unit = normalized(v)?;
        for (s, x) in sum.iter_mut().zip(unit) {
            *s += x;
        }
    }
    normalized(&sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_to_unit_length() {
        let v = normalized(&[3.0, 4.0]).unwrap();
        assert!((v[0] - 0.6).abs() < 1e-6 && (v[1] - 0.8).abs() < 1e-6);
        assert!(normalized(&[0.0, 0.0]).is_none());
        assert!(normalized(&[f32::NAN, 1.0]).is_none());
    }

    #[test]
    fn cosine_ignores_length() {
        assert!((cosine(&[1.0, 0.0], &[5.0, 0.0]) - 1.0).abs() < 1e-6);
        assert!(cosine(&[1.0, 0.0], &[0.0, 2.0]).abs() < 1e-6);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 0.0]), 0.0);
    }

    #[test]
    fn mean_weights_inputs_equally_regardless_of_length() {
        let m = normalized_mean(&[vec![10.0, 0.0], vec![0.0, 1.0]]).unwrap();
        assert!((m[0] - m[1]).abs() < 1e-6);
        assert!(normalized_mean(&[vec![1.0, 0.0], vec![-1.0, 0.0]]).is_none());
        assert!(normalized_mean(&[vec![1.0], vec![1.0, 0.0]]).is_none());
        assert!(normalized_mean(&[]).is_none());
    }
}
