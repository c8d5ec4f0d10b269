//! Combines weighted term vectors into the query vector: `normalise(Σ wᵢ · normalise(vᵢ))`.
//!
//! Each term is normalised first so a weight means the same thing for a text and an image
//! (the towers' raw norms differ), and the sum is normalised so scores stay cosines.

use crate::error::{Result, SearchError};
use crate::vector::normalized;

/// The query vector for `(weight, vector)` terms. Errors when dimensions disagree, a term has no
/// direction, or the terms cancel out.
pub fn combine(terms: &[(f32, &[f32])]) -> Result<Vec<f32>> {
    let Some((_, first)) = terms.first() else {
        return Err(SearchError::DegenerateQuery);
    };
    let dim = first.len();
    let mut sum = vec![0f32; dim];
    for (weight, vector) in terms {
        if vector.len() != dim {
            return Err(SearchError::DimensionMismatch {
                query: vector.len(),
                library: dim,
            });
        }
        let unit = normalized(vector).ok_or(SearchError::DegenerateQuery)?;
        for (s, x) in sum.iter_mut().zip(unit) {
            *s += weight * x;
        }
    }
    normalized(&sum).ok_or(SearchError::DegenerateQuery)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vector::cosine;

    #[test]
    fn weighted_sum_is_normalised() {
        let red = [2.0, 0.0, 0.0];
        let beach = [0.0, 0.5, 0.0];
        let q = combine(&[(2.0, &red), (1.0, &beach)]).unwrap();
        let expected = [2.0 / 5f32.sqrt(), 1.0 / 5f32.sqrt(), 0.0];
        for (a, b) in q.iter().zip(expected) {
            assert!((a - b).abs() < 1e-6);
        }
    }

    #[test]
    fn negative_terms_push_away() {
        let red = [1.0, 0.0];
        let dark = [0.6, 0.8];
        let q = combine(&[(1.0, &red), (-1.0, &dark)]).unwrap();
        assert!(cosine(&q, &dark) < cosine(&red, &dark));
    }

    #[test]
    fn cancelling_or_mismatched_terms_are_errors() {
        let v = [1.0, 0.0];
        assert!(matches!(
            combine(&[(1.0, &v), (-1.0, &v)]),
            Err(SearchError::DegenerateQuery)
        ));
        assert!(matches!(combine(&[]), Err(SearchError::DegenerateQuery)));
        assert!(matches!(
            combine(&[(1.0, &v), (1.0, &[1.0, 0.0, 0.0])]),
            Err(SearchError::DimensionMismatch { .. })
        ));
    }
}
